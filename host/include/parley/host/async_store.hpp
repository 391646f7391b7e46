// The store as the io thread uses it (issue 17): the io thread never waits for the
// database's network. `run(key, work, done)` runs `work(Store&)` and then `done(result)` on
// the io thread:
//
// - PostgreSQL: `work` runs on one of a bounded pool of database threads, each with its own
//   connection (a PgStore); work with the same key (a session id) always goes to the same
//   thread, so one session's writes happen in the order they were asked for. Why a pool and
//   not libpq's non-blocking API on the Asio loop: bench/scale/README.md (measured).
// - SQLite: `work` runs at once on the calling (io) thread, as it always did (a local file,
//   microseconds); `done` is posted all the same, so callers see one behaviour.
//
// Limits: each database thread holds at most `queue_limit` waiting jobs; beyond that `done`
// gets "db_busy" at once (the caller refuses the new work with that error, the queue does
// not grow). Each statement is bounded by the store (statement_timeout 10 s, connect 5 s).
//
// Health: every result a job returns says whether the database answered; a "db_unavailable"
// marks the store down until a later job (or the probe every probe_interval) succeeds.
// health() is what /healthz reports.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "parley/host/store.hpp"

namespace parley::host {

struct AsyncStoreOptions {
  std::size_t threads = 4;         // PostgreSQL: database threads (= connections)
  std::size_t queue_limit = 1024;  // jobs waiting per thread before "db_busy"
  std::chrono::milliseconds probe_interval{1000};  // PostgreSQL: health probe while down
};

struct StoreHealth {
  bool ok = true;
  std::string backend;        // "sqlite" or "postgresql"
  std::string location;       // file path, or the URI with the password as ***
  std::string error;          // the last db_unavailable message while down
  std::int64_t since_ms = 0;  // epoch ms of the last change of `ok`
  std::size_t queued = 0;     // jobs waiting on database threads
  std::size_t threads = 0;    // 0 for SQLite (inline)
};

class AsyncStore {
 public:
  // Opens `location` (Store::open): SQLite → one store used inline; PostgreSQL →
  // options.threads connections, all opened (and the schema migrated) before this returns.
  static Result<std::unique_ptr<AsyncStore>> open(boost::asio::io_context& io,
                                                  const std::string& location,
                                                  AsyncStoreOptions options = {});
  // Inline over a store the caller opened (SQLite), owned or borrowed (tests: the store
  // outlives this object).
  AsyncStore(boost::asio::io_context& io, std::unique_ptr<Store> inline_store,
             std::string location);
  AsyncStore(boost::asio::io_context& io, Store& borrowed_inline_store);
  ~AsyncStore();
  AsyncStore(const AsyncStore&) = delete;
  AsyncStore& operator=(const AsyncStore&) = delete;

  // Runs work(Store&) -> R (a Result<T> or Status), then done(R) on the io thread. `key`:
  // work with the same non-empty key runs in order; "" = any thread.
  template <class Work, class Done>
  void run(std::string_view key, Work work, Done done) {
    using R = std::decay_t<std::invoke_result_t<Work&, Store&>>;
    auto state = std::make_shared<std::pair<Work, Done>>(std::move(work), std::move(done));
    submit(key, [this, state](Store* store, const Error* refused) {
      R result = refused != nullptr ? R(*refused) : state->first(*store);
      if (result) note_ok();
      else note_error(result.error());
      boost::asio::post(io_, [state, result = std::move(result)]() mutable {
        state->second(std::move(result));
      });
    });
  }

  // True when work runs inline on the io thread (SQLite).
  bool is_inline() const { return inline_ != nullptr; }

  StoreHealth health() const;
  // This host's identity in the database (lease owner): hostname, pid and 32 random bits,
  // fixed for the life of the process.
  const std::string& host_id() const { return host_id_; }
  // Finishes the work already queued, then joins the database threads. Work submitted
  // afterwards is refused ("db_closed"). Called by the destructor.
  void stop();

 private:
  struct Pool;
  using Job = std::function<void(Store*, const Error*)>;
  AsyncStore(boost::asio::io_context& io, std::unique_ptr<Pool> pool, std::string location);
  void submit(std::string_view key, Job job);
  void note_ok();
  void note_error(const Error& error);

  boost::asio::io_context& io_;
  Store* inline_ = nullptr;              // SQLite: work runs here, on the calling thread
  std::unique_ptr<Store> owned_inline_;  // ... when this object owns it
  std::unique_ptr<Pool> pool_;
  std::string location_;
  std::string host_id_;
  std::atomic<bool> down_{false};
  mutable std::mutex health_mutex_;  // guards the two below (written by database threads)
  std::string error_;
  std::int64_t since_ms_ = 0;
};

}  // namespace parley::host
