#include "app/main.hpp"

int main(int argc, char** argv) { return rmig::app::main(argc, argv); }
