#include "support/certs.hpp"

#include <array>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "support/files.hpp"
#include "support/process.hpp"

namespace rmig::test {

namespace {

void openssl(const std::vector<std::string>& args, const std::string& cwd) {
  ProcessOptions o;
  o.argv = {"openssl"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.cwd = cwd;
  // A developer's OPENSSL_CONF must not change what gets generated.
  o.env = {{"OPENSSL_CONF", std::nullopt}};
  RunResult r = run(std::move(o), 60s);
  if (r.exit_code != 0) throw std::runtime_error("generating test certificates failed: " + r.describe());
}

constexpr std::array<const char*, 5> kEcKey = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                               "-nodes"};

void make_ca(const std::string& dir, const std::string& name, const std::string& subject) {
  std::vector<std::string> args = {"req",   "-x509",   "-new",        "-days", "3650",       "-subj",
                                   subject, "-keyout", name + ".key", "-out",  name + ".crt"};
  args.insert(args.begin() + 3, kEcKey.begin(), kEcKey.end());
  openssl(args, dir);
}

// `days` -1 makes a certificate that expired yesterday.
void make_leaf(const std::string& dir, const std::string& name, const std::string& ca,
               const std::string& subject, const std::string& extensions, const std::string& days = "3650") {
  std::vector<std::string> req = {"req",     "-new",        "-subj", subject,
                                  "-keyout", name + ".key", "-out",  name + ".csr"};
  req.insert(req.begin() + 2, kEcKey.begin(), kEcKey.end());
  openssl(req, dir);
  write_file(dir + "/" + name + ".ext", extensions);
  openssl({"x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial",
           "-days", days, "-sha256", "-extfile", name + ".ext", "-out", name + ".crt"},
          dir);
}

// Owns the directory for the lifetime of the process.
struct CertStore {
  TempDir dir{"rmig-certs"};
  TestCerts certs;
};

constexpr const char* kCommonExt =
    "basicConstraints=CA:FALSE\n"
    "keyUsage=digitalSignature,keyEncipherment\n"
    "subjectKeyIdentifier=hash\n"
    "authorityKeyIdentifier=keyid,issuer\n";

CertStore* generate() {
  auto store = std::make_unique<CertStore>();
  const std::string& d = store->dir.path();
  make_ca(d, "ca", "/O=redis-migrate tests/CN=Test CA");
  make_ca(d, "wrong-ca", "/O=redis-migrate tests/CN=Wrong CA");
  make_leaf(d, "server", "ca", "/O=redis-migrate tests/CN=localhost",
            std::string(kCommonExt) +
                "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n");
  make_leaf(d, "client", "ca", "/O=redis-migrate tests/CN=client",
            std::string(kCommonExt) + "extendedKeyUsage=clientAuth\n");
  make_leaf(d, "wrong-client", "wrong-ca", "/O=redis-migrate tests/CN=wrong client",
            std::string(kCommonExt) + "extendedKeyUsage=clientAuth\n");
  make_leaf(
      d, "wrong-host", "ca", "/O=redis-migrate tests/CN=wrong.example",
      std::string(kCommonExt) + "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:wrong.example\n");

  make_leaf(d, "expired-client", "ca", "/O=redis-migrate tests/CN=expired client",
            std::string(kCommonExt) + "extendedKeyUsage=clientAuth\n", "-1");

  TestCerts& c = store->certs;
  c.dir = d;
  auto set = [&](std::string& cert, std::string& key, const std::string& name) {
    cert = d + "/" + name + ".crt";
    key = d + "/" + name + ".key";
  };
  set(c.ca_cert, c.ca_key, "ca");
  set(c.wrong_ca_cert, c.wrong_ca_key, "wrong-ca");
  set(c.server_cert, c.server_key, "server");
  set(c.client_cert, c.client_key, "client");
  set(c.wrong_client_cert, c.wrong_client_key, "wrong-client");
  set(c.wrong_host_cert, c.wrong_host_key, "wrong-host");
  set(c.expired_client_cert, c.expired_client_key, "expired-client");
  return store.release();
}

}  // namespace

const TestCerts& test_certs() {
  // Intentionally a function-local static: destroyed (and its directory removed) at process exit.
  static std::unique_ptr<CertStore> store;
  static std::once_flag once;
  std::call_once(once, [] { store.reset(generate()); });
  return store->certs;
}

}  // namespace rmig::test
