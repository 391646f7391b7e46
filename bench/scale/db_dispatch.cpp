// How should the io thread talk to PostgreSQL? (issue 17, step 3: "measure, choose, say why")
//
// The same write a text turn does twice (append a chat line: lock and touch the session row,
// insert the line numbered after the last one, commit), issued from one Asio io thread with
// a fixed number in flight, two ways:
//
//   pool:T      AsyncStore: T database threads, each with its own blocking libpq connection
//               running PgStore::append_line (BEGIN, UPDATE, INSERT, COMMIT: 4 round trips);
//               the io thread only posts the job and receives the result.
//   nonblock    one libpq connection in non-blocking pipeline mode driven by the io thread
//               itself (PQsocket watched by Asio): UPDATE + INSERT + Sync per line, one
//               implicit transaction, pipelined: the io thread parses every result.
//
// Printed per mode: lines/s, latency p50/p99 (submit → result on the io thread), and the io
// thread's own CPU per line (µs): the io thread is the one a host cannot add more of.
//
//   parley-db-dispatch --uri postgresql://... [--lines 20000] [--inflight 64] [--sessions 256]
//                      [--modes pool:1,pool:2,pool:4,pool:8,nonblock]
#include <libpq-fe.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include "parley/host/async_store.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/store.hpp"

namespace asio = boost::asio;
using namespace parley::host;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string uri;
  int lines = 20000;
  int inflight = 64;
  int sessions = 256;
  std::vector<std::string> modes = {"pool:1", "pool:2", "pool:4", "pool:8", "nonblock"};
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Row {
  std::string mode;
  double seconds = 0;
  int done = 0;
  int errors = 0;
  std::vector<double> latency_ms;
  double io_cpu_s = 0;
  double proc_cpu_s = 0;
};

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

std::vector<std::string> make_sessions(const std::string& uri, int count) {
  auto store = Store::open(uri);
  if (!store) {
    std::cerr << "open: " << store.error().message << "\n";
    std::exit(1);
  }
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    SessionRecord s;
    s.id = new_session_id();
    s.chat_log_id = new_session_id();
    s.agent_id = "bench";
    s.channel = "rest";
    s.created_ms = s.last_activity_ms = 1;
    if (!(*store)->create_session(s)) std::exit(1);
    ids.push_back(s.id);
  }
  return ids;
}

Row run_pool(const Options& o, const std::vector<std::string>& sessions, std::size_t threads) {
  asio::io_context io(1);
  AsyncStoreOptions options;
  options.threads = threads;
  options.queue_limit = 100000;
  auto store = AsyncStore::open(io, o.uri, options);
  if (!store) {
    std::cerr << "pool: " << store.error().message << "\n";
    std::exit(1);
  }
  Row row;
  row.mode = "pool:" + std::to_string(threads);
  // The io context has nothing of its own to wait for while the jobs are on the database
  // threads: keep it running until the last result is in.
  auto guard = asio::make_work_guard(io);
  int issued = 0;
  std::function<void()> issue = [&] {
    if (issued >= o.lines) return;
    const std::string& id = sessions[static_cast<std::size_t>(issued) % sessions.size()];
    ++issued;
    const auto start = Clock::now();
    (*store)->run(
        id,
        [id](Store& s) {
          ChatLine line;
          line.text = "a line of about the length people type in a chat turn";
          line.timestamp_ms = 2;
          return s.append_line(id, line);
        },
        [&, start](parley::Result<ChatLine> r) {
          ++row.done;
          if (!r) ++row.errors;
          row.latency_ms.push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - start).count());
          if (row.done == o.lines) guard.reset();
          issue();
        });
  };
  const double cpu0 = thread_cpu_seconds(), proc0 = process_cpu_seconds();
  const auto t0 = Clock::now();
  for (int i = 0; i < o.inflight; ++i) issue();
  io.run();
  row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  row.io_cpu_s = thread_cpu_seconds() - cpu0;
  row.proc_cpu_s = process_cpu_seconds() - proc0;
  return row;
}

// libpq pipeline mode driven from the io thread.
class Pipeline {
 public:
  Pipeline(asio::io_context& io, const std::string& uri, Row& row)
      : io_(io), row_(row), socket_(io) {
    conn_ = PQconnectdb(uri.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) fail("connect");
    prepare("upd", "UPDATE sessions SET last_activity_ms = GREATEST(last_activity_ms, $2) WHERE id = $1");
    prepare("ins",
            "INSERT INTO chat_lines (session_id, seq, line_id, timestamp_ms, inbound, text, "
            "emitter, interrupted, context_vars) SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, "
            "true, $4, '', false, '{}' FROM chat_lines WHERE session_id = $1 RETURNING seq");
    if (PQsetnonblocking(conn_, 1) != 0 || PQenterPipelineMode(conn_) != 1) fail("pipeline");
    socket_.assign(::dup(PQsocket(conn_)));
  }
  ~Pipeline() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    PQfinish(conn_);
  }

  void send(const std::string& session) {
    const std::string line_id = new_session_id();
    const std::string ts = "2";
    const char* upd[] = {session.c_str(), ts.c_str()};
    const char* ins[] = {session.c_str(), line_id.c_str(), ts.c_str(),
                         "a line of about the length people type in a chat turn"};
    if (PQsendQueryPrepared(conn_, "upd", 2, upd, nullptr, nullptr, 0) != 1 ||
        PQsendQueryPrepared(conn_, "ins", 4, ins, nullptr, nullptr, 0) != 1 ||
        PQpipelineSync(conn_) != 1)
      fail("send");
    starts_.push_back(Clock::now());
    flush();
    arm_read();
  }

  std::function<void()> on_done;

 private:
  void fail(const char* what) {
    std::cerr << "nonblock " << what << ": " << PQerrorMessage(conn_) << "\n";
    std::exit(1);
  }
  void prepare(const char* name, const char* sql) {
    PGresult* r = PQprepare(conn_, name, sql, 0, nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) fail("prepare");
    PQclear(r);
  }
  void flush() {
    const int rc = PQflush(conn_);
    if (rc < 0) fail("flush");
    if (rc == 1 && !writing_) {
      writing_ = true;
      socket_.async_wait(asio::posix::stream_descriptor::wait_write,
                         [this](boost::system::error_code ec) {
                           writing_ = false;
                           if (!ec) flush();
                         });
    }
  }
  void arm_read() {
    if (reading_ || starts_.empty()) return;
    reading_ = true;
    socket_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](boost::system::error_code ec) {
                         reading_ = false;
                         if (ec) return;
                         if (PQconsumeInput(conn_) != 1) fail("read");
                         drain();
                         arm_read();
                       });
  }
  void drain() {
    while (!starts_.empty() && !PQisBusy(conn_)) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) continue;  // the end of one statement's results
      const ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_FATAL_ERROR || st == PGRES_PIPELINE_ABORTED) failed_ = true;
      if (st == PGRES_PIPELINE_SYNC) {
        row_.latency_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - starts_.front()).count());
        starts_.pop_front();
        ++row_.done;
        if (failed_) ++row_.errors;
        failed_ = false;
        PQclear(r);
        if (on_done) on_done();
        continue;
      }
      PQclear(r);
    }
  }

  asio::io_context& io_;
  Row& row_;
  PGconn* conn_ = nullptr;
  asio::posix::stream_descriptor socket_;
  std::deque<Clock::time_point> starts_;
  bool reading_ = false;
  bool writing_ = false;
  bool failed_ = false;
};

Row run_nonblock(const Options& o, const std::vector<std::string>& sessions) {
  asio::io_context io(1);
  Row row;
  row.mode = "nonblock";
  Pipeline pipeline(io, o.uri, row);
  int issued = 0;
  auto issue = [&] {
    if (issued >= o.lines) return;
    pipeline.send(sessions[static_cast<std::size_t>(issued) % sessions.size()]);
    ++issued;
  };
  pipeline.on_done = issue;
  const double cpu0 = thread_cpu_seconds(), proc0 = process_cpu_seconds();
  const auto t0 = Clock::now();
  for (int i = 0; i < o.inflight; ++i) issue();
  io.run();
  row.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  row.io_cpu_s = thread_cpu_seconds() - cpu0;
  row.proc_cpu_s = process_cpu_seconds() - proc0;
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--uri") o.uri = v;
    else if (k == "--lines") o.lines = std::stoi(v);
    else if (k == "--inflight") o.inflight = std::stoi(v);
    else if (k == "--sessions") o.sessions = std::stoi(v);
    else if (k == "--modes") {
      o.modes.clear();
      std::stringstream in(v);
      for (std::string m; std::getline(in, m, ',');) o.modes.push_back(m);
    } else {
      std::cerr << "unknown option " << k << "\n";
      return 64;
    }
  }
  if (o.uri.empty()) {
    std::cerr << "usage: parley-db-dispatch --uri postgresql://... [--lines N] [--inflight N] "
                 "[--sessions N] [--modes pool:1,...,nonblock]\n";
    return 64;
  }
  const auto sessions = make_sessions(o.uri, o.sessions);
  std::printf("%d lines, %d in flight, %d sessions\n", o.lines, o.inflight, o.sessions);
  std::printf("%-10s %10s %8s %8s %12s %12s %7s\n", "mode", "lines/s", "p50_ms", "p99_ms",
              "io_cpu_us/l", "proc_cpu_us/l", "errors");
  for (const auto& mode : o.modes) {
    Row row = mode == "nonblock" ? run_nonblock(o, sessions)
                                 : run_pool(o, sessions, std::stoul(mode.substr(5)));
    std::printf("%-10s %10.0f %8.2f %8.2f %12.1f %12.1f %7d\n", row.mode.c_str(),
                row.done / row.seconds, quantile(row.latency_ms, 0.5),
                quantile(row.latency_ms, 0.99), row.io_cpu_s * 1e6 / row.done,
                row.proc_cpu_s * 1e6 / row.done, row.errors);
  }
  return 0;
}
