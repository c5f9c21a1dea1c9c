#include "net/tls.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>

#include "util/file_check.hpp"

namespace rmig::net {

namespace {

// Pops the OpenSSL error queue; returns the first reason (the root cause) or `fallback`.
std::string openssl_reason(std::string_view fallback = "unknown TLS error") {
  std::string first;
  while (unsigned long e = ERR_get_error()) {
    if (first.empty()) {
      const char* r = ERR_reason_error_string(e);
      first = r != nullptr ? r : "error " + std::to_string(ERR_GET_REASON(e));
    }
  }
  return first.empty() ? std::string(fallback) : first;
}

// The PEM certificates in a file (0 for a file with none, or not PEM at all).
int count_certificates(const std::string& path) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) return 0;
  int n = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_free(cert);
    ++n;
  }
  BIO_free(bio);
  ERR_clear_error();
  return n;
}

// Whether a CA directory holds any name OpenSSL looks certificates up by: <8 hex digits>.<n> (made by
// `openssl rehash` or c_rehash).
bool has_hashed_names(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool found = false;
  while (const dirent* e = readdir(d)) {
    const std::string_view name = e->d_name;
    const std::size_t dot = name.find('.');
    if (dot != 8 || dot + 1 >= name.size()) continue;
    auto all = [](std::string_view s, auto pred) {
      return std::all_of(s.begin(), s.end(),
                         [&](char c) { return pred(static_cast<unsigned char>(c)) != 0; });
    };
    if (all(name.substr(0, 8), ::isxdigit) && all(name.substr(dot + 1), ::isdigit)) {
      found = true;
      break;
    }
  }
  closedir(d);
  return found;
}

// "2026-01-31 12:00:00 UTC"
std::string time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "an unreadable date";
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf.data();
}

// Loads the client certificate chain and its private key, checking each for what an operator can fix: a file
// that is not a certificate, a key that is not a key, a key that belongs to another certificate, a
// certificate outside its validity period.
Status load_client_identity(SSL_CTX* raw, const TlsConfig& config, const std::string& opt) {
  auto usage = [&](std::string msg) { return make_error(ExitCode::kUsage, std::move(msg)); };
  if (SSL_CTX_use_certificate_chain_file(raw, config.cert_file.c_str()) != 1) {
    return usage(opt + "cert " + config.cert_file + ": not a PEM certificate (" + openssl_reason() +
                 "): give the client certificate in PEM form (-----BEGIN CERTIFICATE-----)");
  }
  X509* cert = SSL_CTX_get0_certificate(raw);
  BIO* bio = BIO_new_file(config.key_file.c_str(), "r");
  EVP_PKEY* key = bio != nullptr ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (key == nullptr) {
    return usage(opt + "key " + config.key_file + ": not a PEM private key (" + openssl_reason() +
                 "): give the unencrypted private key in PEM form (-----BEGIN PRIVATE KEY-----)");
  }
  const bool matches = cert != nullptr && X509_check_private_key(cert, key) == 1;
  ERR_clear_error();
  const bool used = matches && SSL_CTX_use_PrivateKey(raw, key) == 1;
  EVP_PKEY_free(key);
  if (!matches) {
    return usage(opt + "key " + config.key_file + " does not match " + opt + "cert " + config.cert_file +
                 ": the key belongs to another certificate; give the key the certificate was made for");
  }
  if (!used) return usage(opt + "key " + config.key_file + ": cannot be used (" + openssl_reason() + ")");
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
    return usage(opt + "cert " + config.cert_file + ": the certificate expired on " +
                 time_text(X509_get0_notAfter(cert)) + ": renew it (and its key) and give the new files");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0) {
    return usage(opt + "cert " + config.cert_file + ": the certificate is not valid before " +
                 time_text(X509_get0_notBefore(cert)) + ": check this machine's clock");
  }
  return {};
}

bool is_ip_address(const std::string& host) {
  std::array<unsigned char, 16> buf{};
  return inet_pton(AF_INET, host.c_str(), buf.data()) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buf.data()) == 1;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// The names a certificate is valid for, for a host name mismatch message: "DNS:a.example, IP:10.0.0.5", or
// its CN when it has no subjectAltName (which OpenSSL then matches against).
std::string certificate_names(const X509* cert) {
  if (cert == nullptr) return {};
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : ", ") + s; };
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    constexpr int kMaxNames = 8;  // a wildcard-heavy certificate can list hundreds
    const int n = sk_GENERAL_NAME_num(sans);
    for (int i = 0; i < n && i < kMaxNames; ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* dns = gn->d.dNSName;
        add("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                 static_cast<std::size_t>(ASN1_STRING_length(dns))));
      } else if (gn->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* ip = gn->d.iPAddress;
        std::array<char, INET6_ADDRSTRLEN> text{};
        const int family = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
        if (inet_ntop(family, ASN1_STRING_get0_data(ip), text.data(), text.size()) != nullptr) {
          add(std::string("IP:") + text.data());
        }
      }
    }
    if (n > kMaxNames) add("and " + std::to_string(n - kMaxNames) + " more");
    GENERAL_NAMES_free(sans);
  }
  if (out.empty()) {
    std::array<char, 256> cn{};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(),
                                  static_cast<int>(cn.size())) > 0) {
      add(std::string("CN:") + cn.data());
    }
  }
  return out;
}

}  // namespace

TlsContext::TlsContext(SSL_CTX* ctx, TlsConfig config, std::string side)
    : ctx_(ctx), config_(std::move(config)), side_(std::move(side)) {}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsConfig& config, std::string_view side) {
  const std::string opt = "--" + std::string(side) + "-tls-";
  auto usage = [&](std::string msg) { return make_error(ExitCode::kUsage, std::move(msg)); };

  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  if (raw == nullptr) return usage("cannot initialise TLS: " + openssl_reason());
  std::shared_ptr<TlsContext> ctx(new TlsContext(raw, config, std::string(side)));
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  // No SSL_MODE_RELEASE_BUFFERS: it saves about 34 KB per idle connection, but a copy's few connections are
  // never idle, and it costs an allocation and a free of the record buffers on every burst.

  if (config.insecure) {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  } else {
    if (!config.ca_file.empty()) {
      if (std::string p = file_problem(config.ca_file); !p.empty()) {
        return usage(opt + "ca-file " + config.ca_file + ": " + p +
                     ": give the PEM file of the CA certificates");
      }
      if (count_certificates(config.ca_file) == 0) {
        return usage(opt + "ca-file " + config.ca_file +
                     ": holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the file of the CA "
                     "certificates that signed the server's certificate");
      }
    }
    if (!config.ca_dir.empty()) {
      if (std::string p = directory_problem(config.ca_dir); !p.empty()) {
        return usage(opt + "ca-dir " + config.ca_dir + ": " + p + ": give a directory of CA certificates");
      }
      if (!has_hashed_names(config.ca_dir)) {
        return usage(opt + "ca-dir " + config.ca_dir +
                     ": holds no hashed certificate names (such as 1a2b3c4d.0), which is how OpenSSL finds "
                     "CAs in a directory: run `openssl rehash " +
                     config.ca_dir + "`, or give the CA file with " + opt + "ca-file");
      }
    }
    if (!config.ca_file.empty() || !config.ca_dir.empty()) {
      if (SSL_CTX_load_verify_locations(raw, config.ca_file.empty() ? nullptr : config.ca_file.c_str(),
                                        config.ca_dir.empty() ? nullptr : config.ca_dir.c_str()) != 1) {
        return usage(
            opt + (config.ca_file.empty() ? "ca-dir " + config.ca_dir : "ca-file " + config.ca_file) +
            ": cannot load CA certificates (" + openssl_reason() + "): give a PEM file of CA certificates");
      }
    } else if (SSL_CTX_set_default_verify_paths(raw) != 1) {
      return usage("cannot load the system CA store (" + openssl_reason() + "): pass " + opt + "ca-file");
    }
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER, nullptr);
  }

  if (config.cert_file.empty() != config.key_file.empty()) {
    return usage("mutual TLS needs both " + opt + "cert and " + opt + "key");
  }
  if (!config.cert_file.empty()) {
    if (std::string p = file_problem(config.cert_file); !p.empty())
      return usage(opt + "cert " + config.cert_file + ": " + p + ": give the client certificate file");
    if (std::string p = file_problem(config.key_file); !p.empty())
      return usage(opt + "key " + config.key_file + ": " + p + ": give the client private key file");
    if (auto st = load_client_identity(raw, config, opt); !st) return st.error();
  }
  return ctx;
}

std::string TlsContext::trust_description() const {
  if (!config_.ca_file.empty()) return "CA file " + config_.ca_file;
  if (!config_.ca_dir.empty()) return "CA directory " + config_.ca_dir;
  return "the system CA store";
}

TlsSession::TlsSession(std::shared_ptr<TlsContext> ctx, SSL* ssl, BIO* net_in, BIO* net_out, std::string name)
    : ctx_(std::move(ctx)), ssl_(ssl), net_in_(net_in), net_out_(net_out), verify_name_(std::move(name)) {}

TlsSession::~TlsSession() { SSL_free(ssl_); }  // frees both BIOs

Result<std::unique_ptr<TlsSession>> TlsSession::create(const std::shared_ptr<TlsContext>& ctx,
                                                       const std::string& host) {
  SSL* ssl = SSL_new(ctx->get());
  if (ssl == nullptr)
    return make_error(ExitCode::kConnect, "cannot create a TLS session: " + openssl_reason());
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in, -1);
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(ssl, in, out);
  SSL_set_connect_state(ssl);
  const TlsConfig& cfg = ctx->config();
  std::string name = cfg.server_name.empty() ? host : cfg.server_name;
  std::unique_ptr<TlsSession> s(new TlsSession(ctx, ssl, in, out, name));
  const bool ip = is_ip_address(name);
  if (!ip)
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, s->verify_name_.data());  // SNI
  if (!cfg.insecure) {
    if (ip) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    } else {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, name.c_str());
    }
  }
  return s;
}

Status TlsSession::start() { return advance_handshake(); }

Status TlsSession::advance_handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    done_ = true;
    return {};
  }
  int err = SSL_get_error(ssl_, rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return {};
  return describe_failure(err, "handshake");
}

Error TlsSession::describe_failure(int ssl_error, std::string_view during) const {
  const std::string opt = "--" + ctx_->side() + "-tls-";
  long verify = SSL_get_verify_result(ssl_);
  if (during == "handshake" && verify != X509_V_OK) {
    ERR_clear_error();
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      // The peer certificate is only recorded once verification passed; the chain as received (leaf first
      // on a client) is kept either way.
      STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_);
      const std::string names =
          certificate_names(chain != nullptr && sk_X509_num(chain) > 0 ? sk_X509_value(chain, 0) : nullptr);
      return make_error(ExitCode::kConnect,
                        "TLS host name mismatch: the server certificate is not valid for '" + verify_name_ +
                            "'" + (names.empty() ? std::string() : " (it lists " + names + ")") +
                            ": connect with a name the certificate lists, or set " + opt +
                            "server-name to one of them");
    }
    if (verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID) {
      return make_error(ExitCode::kConnect,
                        std::string("the server's TLS certificate (or a CA certificate of its chain) is out "
                                    "of its validity period (") +
                            X509_verify_cert_error_string(verify) +
                            "): renew the server's certificate, or check this machine's clock");
    }
    return make_error(ExitCode::kConnect, std::string("TLS certificate not trusted (") +
                                              X509_verify_cert_error_string(verify) + ") by " +
                                              ctx_->trust_description() +
                                              ": pass the CA that signed the server certificate with " + opt +
                                              "ca-file (or, for a test only, " + opt + "insecure)");
  }
  std::string reason = ssl_error == SSL_ERROR_SSL ? openssl_reason() : std::string();
  ERR_clear_error();
  if (ssl_error == SSL_ERROR_ZERO_RETURN || ssl_error == SSL_ERROR_SYSCALL) {
    return make_error(ExitCode::kConnect,
                      std::string("connection closed by the server during TLS ") + std::string(during));
  }
  if (contains(reason, "wrong version number") || contains(reason, "packet length too long") ||
      contains(reason, "record layer failure") || contains(reason, "unknown protocol") ||
      contains(reason, "http request")) {
    return make_error(ExitCode::kConnect,
                      "the server did not answer with TLS (" + reason +
                          "): this looks like a plain port; use redis:// or the server's TLS port");
  }
  if (contains(reason, "protocol version") || contains(reason, "unsupported protocol")) {
    return make_error(ExitCode::kConnect,
                      "the server and this tool share no TLS version (" + reason +
                          "): this tool speaks TLS 1.2 and 1.3; enable one on the server");
  }
  if (contains(reason, "handshake failure")) {
    // What a TLS 1.2 server answers both to a missing client certificate and to having no cipher in common.
    const bool has_cert = !ctx_->config().cert_file.empty();
    return make_error(ExitCode::kConnect,
                      "the server ended the TLS handshake (" + reason + "): " +
                          (has_cert ? "it may not accept the client certificate " + ctx_->config().cert_file +
                                          " (it must be signed by a CA the server trusts)"
                                    : "it may require a client certificate (mutual TLS): pass " + opt +
                                          "cert and " + opt + "key") +
                          ", or it accepts none of the ciphers offered");
  }
  // Alerts the server sends about our certificate. With TLS 1.3 they arrive after our side of the handshake
  // finished, on the first read.
  if (contains(reason, "certificate required") || contains(reason, "bad certificate") ||
      contains(reason, "unknown ca") || contains(reason, "certificate unknown") ||
      contains(reason, "certificate expired") || contains(reason, "certificate revoked") ||
      contains(reason, "access denied")) {
    const TlsConfig& cfg = ctx_->config();
    if (cfg.cert_file.empty()) {
      return make_error(ExitCode::kConnect,
                        "the server requires a client certificate (mutual TLS) and refused "
                        "the connection without one (" +
                            reason + "): pass " + opt + "cert and " + opt + "key");
    }
    return make_error(ExitCode::kConnect,
                      "the server refused the client certificate " + cfg.cert_file + " (" + reason +
                          "): give one signed by a CA the server trusts (its tls-ca-cert-file), with " + opt +
                          "cert and " + opt + "key");
  }
  return make_error(ExitCode::kConnect, "TLS " + std::string(during) + " failed: " + reason);
}

Status TlsSession::feed(const char* data, std::size_t len) {
  if (len > 0 && BIO_write(net_in_, data, static_cast<int>(len)) != static_cast<int>(len)) {
    return make_error(ExitCode::kConnect, "TLS buffer write failed: " + openssl_reason());
  }
  if (!done_) return advance_handshake();
  return {};
}

Result<std::size_t> TlsSession::read(char* buf, std::size_t cap) {
  if (!done_) return std::size_t{0};
  ERR_clear_error();
  int n = SSL_read(ssl_, buf, static_cast<int>(std::min<std::size_t>(cap, 1 << 30)));
  if (n > 0) return static_cast<std::size_t>(n);
  int err = SSL_get_error(ssl_, n);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return std::size_t{0};
  if (err == SSL_ERROR_ZERO_RETURN) return make_error(ExitCode::kConnect, "connection closed by the server");
  return describe_failure(err, "read");
}

Status TlsSession::write(const char* data, std::size_t len) {
  while (len > 0) {
    int step = static_cast<int>(std::min<std::size_t>(len, 1 << 30));
    ERR_clear_error();
    int n = SSL_write(ssl_, data, step);
    if (n <= 0) return describe_failure(SSL_get_error(ssl_, n), "write");
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return {};
}

std::size_t TlsSession::pending_ciphertext() const { return BIO_ctrl_pending(net_out_); }

std::size_t TlsSession::take_ciphertext(OutBuffer& out) {
  std::size_t total = 0;
  while (std::size_t pending = BIO_ctrl_pending(net_out_)) {
    std::size_t n = std::min(pending, OutBuffer::kChunkSize);
    char* dst = out.reserve(n);
    int got = BIO_read(net_out_, dst, static_cast<int>(n));
    if (got <= 0) break;
    out.commit(static_cast<std::size_t>(got));
    total += static_cast<std::size_t>(got);
  }
  return total;
}

}  // namespace rmig::net
