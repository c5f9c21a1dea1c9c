#pragma once
// TLS material for tests, generated once per test process with the openssl command line (EC P-256, fast) into
// a temporary directory that is removed when the process exits.

#include <string>

namespace rmig::test {

struct TestCerts {
  std::string dir;
  // The CA that signs everything below except the wrong_* material.
  std::string ca_cert;
  std::string ca_key;
  // SAN DNS:localhost, IP:127.0.0.1; usable as a server and as a client certificate (cluster bus,
  // replication).
  std::string server_cert;
  std::string server_key;
  // Client certificate for mutual TLS (tls-auth-clients yes), signed by the CA.
  std::string client_cert;
  std::string client_key;
  // An unrelated CA: trusting only it must fail against our servers.
  std::string wrong_ca_cert;
  std::string wrong_ca_key;
  // A client certificate signed by the wrong CA: a server with tls-auth-clients yes must refuse it.
  std::string wrong_client_cert;
  std::string wrong_client_key;
  // Signed by the right CA but its only SAN is DNS:wrong.example: host-name verification must fail.
  std::string wrong_host_cert;
  std::string wrong_host_key;
  // A client certificate signed by the right CA that expired yesterday.
  std::string expired_client_cert;
  std::string expired_client_key;
};

// Generates on first use (thread-safe); throws std::runtime_error with openssl's output when that fails.
const TestCerts& test_certs();

}  // namespace rmig::test
