#pragma once
// Source and destination are two databases of the same server and no key is renamed: the server copies each
// key itself, with its exact TTL, and nothing travels through the tool. COPY key key DB n [REPLACE]
// (Redis >= 6.2); with --cleanup the key moves instead: MOVE key n (skip policy, atomic), or COPY ... REPLACE
// and UNLINK in one script (replace policy). Merge and fail policies use the DUMP/RESTORE path, and so does a
// pass whose server refuses the command (see copy_command.cpp: it is tried on a key that does not exist).

#include <string>

#include "engine/engine.hpp"

namespace rmig::copy {

class ServerCopyTask final : public engine::KeyTask {
 public:
  explicit ServerCopyTask(int destination_db) : db_(std::to_string(destination_db)) {}
  void attach(engine::Engine& engine) override { engine_ = &engine; }
  void start(uint32_t j) override { send(j); }
  void on_reply(uint32_t j, uint8_t op, resp::Reply reply) override;
  void resend(uint32_t j) override;
  void give_up(uint32_t j) override { engine_->abandon(j); }

  static const char* move_replace_script() noexcept;

  // The command that copies (or moves) `key` into database `db` under the options' conflict policy, in args
  // (at most 6 words); returns the word count and sets `side` to where it goes (the source, or its writer
  // for a move). The views point into key, db and static strings.
  static std::size_t command(const engine::CopyOptions& o, std::string_view key, std::string_view db,
                             std::string_view (&args)[6], engine::Engine::Side& side);

 private:
  static constexpr uint8_t kCopy = engine::Engine::kFirstTaskOp;
  static constexpr uint8_t kExists = engine::Engine::kFirstTaskOp + 1;
  static constexpr uint8_t kStageCopy = 1;
  static constexpr uint8_t kStageExists = 2;

  void send(uint32_t j);
  void check_source(uint32_t j);

  engine::Engine* engine_ = nullptr;
  std::string db_;
};

}  // namespace rmig::copy
