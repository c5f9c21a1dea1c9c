#include "dump_files.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

#include "pipe_stream.hpp"
#include "resp_skipper.hpp"
#include "resp_writer.hpp"

namespace rmbench {
namespace {

constexpr std::size_t kFlushAt = 4u << 20;
constexpr const char* kScanCount = "1000";

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// A blocking hiredis connection: fine here, since making the files is not what is measured.
class SyncClient {
 public:
  SyncClient(const std::string& host, int port) : where_(host + ":" + std::to_string(port)) {
    ctx_ = redisConnect(host.c_str(), port);
    if (ctx_ == nullptr || ctx_->err != 0) {
      const std::string why = ctx_ != nullptr ? ctx_->errstr : "out of memory";
      if (ctx_ != nullptr) redisFree(ctx_);
      throw std::runtime_error("cannot connect to " + where_ + ": " + why);
    }
  }
  ~SyncClient() { redisFree(ctx_); }
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  void append(const std::vector<std::string_view>& argv) {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) != REDIS_OK) {
      throw std::runtime_error("cannot queue a command for " + where_ + ": " + ctx_->errstr);
    }
  }
  Reply get() {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
      throw std::runtime_error("no reply from " + where_ + ": " + ctx_->errstr);
    }
    Reply reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) {
      throw std::runtime_error(where_ + " replied with an error: " + std::string(reply->str, reply->len));
    }
    return reply;
  }
  const std::string& where() const noexcept { return where_; }

 private:
  redisContext* ctx_ = nullptr;
  std::string where_;
};

// Calls on_batch(keys) for every SCAN page; returns the number of keys seen.
template <class OnBatch>
std::uint64_t scan_all(SyncClient& client, OnBatch&& on_batch) {
  std::string cursor = "0";
  std::uint64_t seen = 0;
  do {
    client.append({"SCAN", cursor, "COUNT", kScanCount});
    Reply reply = client.get();
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY) {
      throw std::runtime_error("unexpected SCAN reply from " + client.where());
    }
    cursor.assign(reply->element[0]->str, reply->element[0]->len);
    std::vector<std::string_view> keys;
    const redisReply* page = reply->element[1];
    for (std::size_t i = 0; i < page->elements; ++i) {
      if (page->element[i]->type != REDIS_REPLY_STRING) {
        throw std::runtime_error("unexpected SCAN key from " + client.where());
      }
      keys.emplace_back(page->element[i]->str, page->element[i]->len);
    }
    seen += keys.size();
    on_batch(keys);
  } while (cursor != "0");
  return seen;
}

class FileOut {
 public:
  explicit FileOut(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "wb")) {
    if (file_ == nullptr) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
    buf_.reserve(kFlushAt + (1u << 20));
  }
  ~FileOut() {
    if (file_ != nullptr) std::fclose(file_);
  }
  FileOut(const FileOut&) = delete;
  FileOut& operator=(const FileOut&) = delete;

  std::string& buffer() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlushAt) flush();
  }
  std::uint64_t close() {
    flush();
    if (std::fclose(file_) != 0) {
      file_ = nullptr;
      throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
    }
    file_ = nullptr;
    return written_;
  }

 private:
  void flush() {
    if (!buf_.empty() && std::fwrite(buf_.data(), 1, buf_.size(), file_) != buf_.size()) {
      throw std::runtime_error("cannot write " + path_ + ": " + std::strerror(errno));
    }
    written_ += buf_.size();
    buf_.clear();
  }

  std::string path_;
  std::FILE* file_;
  std::string buf_;
  std::uint64_t written_ = 0;
};

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ServeFileStats write_serve_file(const std::string& host, int port, const std::string& path, ServeMix mix) {
  const double start = monotonic_seconds();
  SyncClient client(host, port);
  FileOut out(path);
  CommandWriter writer(out.buffer());
  ServeFileStats stats;
  stats.keys = scan_all(client, [&](const std::vector<std::string_view>& keys) {
    for (const auto key : keys) {
      if (mix == ServeMix::kTypePttlGetrange || mix == ServeMix::kPttlGetrange) {
        if (mix == ServeMix::kTypePttlGetrange) {
          writer.begin(2);
          writer.arg("TYPE");
          writer.arg(key);
        }
        writer.begin(2);
        writer.arg("PTTL");
        writer.arg(key);
        writer.begin(4);
        writer.arg("GETRANGE");
        writer.arg(key);
        writer.arg("0");
        writer.arg("65536");
        continue;
      }
      if (mix == ServeMix::kSizePttlDump) {
        writer.begin(3);
        writer.arg("MEMORY");
        writer.arg("USAGE");
        writer.arg(key);
      }
      if (mix != ServeMix::kDump) {
        writer.begin(2);
        writer.arg("PTTL");
        writer.arg(key);
      }
      writer.begin(2);
      writer.arg("DUMP");
      writer.arg(key);
    }
    out.maybe_flush();
  });
  stats.commands = writer.commands();
  stats.file_bytes = out.close();
  stats.elapsed_s = monotonic_seconds() - start;
  return stats;
}

AbsorbFileStats write_absorb_file(const std::string& host, int port, const std::string& path) {
  const double start = monotonic_seconds();
  SyncClient client(host, port);
  FileOut out(path);
  CommandWriter writer(out.buffer());
  AbsorbFileStats stats;
  stats.scanned = scan_all(client, [&](const std::vector<std::string_view>& keys) {
    for (const auto key : keys) {
      client.append({"PTTL", key});
      client.append({"DUMP", key});
    }
    for (const auto key : keys) {
      Reply pttl = client.get();
      Reply dump = client.get();
      const std::int64_t now = unix_ms();
      if (pttl->type != REDIS_REPLY_INTEGER)
        throw std::runtime_error("unexpected PTTL reply from " + client.where());
      if (pttl->integer == -2 || dump->type == REDIS_REPLY_NIL) {
        ++stats.vanished;
        continue;
      }
      if (dump->type != REDIS_REPLY_STRING)
        throw std::runtime_error("unexpected DUMP reply from " + client.where());
      if (pttl->integer == 0) {
        ++stats.expired;
        continue;
      }
      const std::string_view payload(dump->str, dump->len);
      if (pttl->integer > 0) {
        writer.begin(5);
        writer.arg("RESTORE");
        writer.arg(key);
        writer.arg_number(now + pttl->integer);
        writer.arg(payload);
        writer.arg("ABSTTL");
        ++stats.with_ttl;
      } else {
        writer.begin(4);
        writer.arg("RESTORE");
        writer.arg(key);
        writer.arg("0");
        writer.arg(payload);
      }
      ++stats.keys;
      stats.payload_bytes += payload.size();
      out.maybe_flush();
    }
  });
  stats.file_bytes = out.close();
  stats.elapsed_s = monotonic_seconds() - start;
  return stats;
}

namespace {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    fstat(fd_, &st);
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      data_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd_, 0);
      if (data_ == MAP_FAILED) throw std::runtime_error("cannot map " + path + ": " + std::strerror(errno));
      madvise(data_, size_, MADV_SEQUENTIAL);
    }
  }
  ~MappedFile() {
    if (data_ != nullptr && data_ != MAP_FAILED) munmap(data_, size_);
    if (fd_ >= 0) close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view view() const {
    return size_ == 0 ? std::string_view() : std::string_view(static_cast<const char*>(data_), size_);
  }

 private:
  int fd_ = -1;
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

class OneChunk : public CommandSource {
 public:
  OneChunk(std::string_view bytes, std::uint64_t commands) : chunk_{bytes, commands} {}
  Chunk next() override { return std::exchange(chunk_, Chunk{}); }

 private:
  Chunk chunk_;
};

}  // namespace

ReplayStats replay_file(const std::string& host, int port, const std::string& path) {
  MappedFile file(path);
  // Commands are RESP arrays, so the skipper counts them too; this pass also pulls the file into memory.
  RespSkipper counter;
  if (!counter.feed(file.view().data(), file.view().size()) || !counter.idle()) {
    throw std::runtime_error(path + " is not a sequence of RESP commands" +
                             (counter.failed() ? ": " + counter.error() : ": it ends mid-command"));
  }
  Connection conn(host, port);
  OneChunk source(file.view(), counter.replies());
  const StreamResult r = run_stream(conn, source);
  return ReplayStats{r.commands, r.replies, r.errors, r.first_error, r.bytes_out, r.bytes_in, r.elapsed_s};
}

}  // namespace rmbench
