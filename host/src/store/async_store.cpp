#include "parley/host/async_store.hpp"

#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "pg_db.hpp"
#include "pg_store.hpp"

namespace parley::host {

namespace {

std::string make_host_id() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) std::snprintf(name, sizeof(name), "host");
  return std::string(name) + ":" + std::to_string(::getpid()) + ":" + random_hex(4);
}

std::int64_t epoch_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Idle workers ping this often while the database is up (worker 0 only), so that /healthz
// notices a dead database even when no request comes.
constexpr std::chrono::seconds idle_probe_interval{5};

}  // namespace

// One database thread: its own connection, its own bounded queue.
struct Worker {
  std::unique_ptr<Store> store;
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void(Store*, const Error*)>> queue;
  bool stopping = false;
  std::thread thread;
};

struct AsyncStore::Pool {
  AsyncStoreOptions options;
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<std::size_t> next{0};  // round robin for work without a key
};

Result<std::unique_ptr<AsyncStore>> AsyncStore::open(boost::asio::io_context& io,
                                                     const std::string& location,
                                                     AsyncStoreOptions options) {
  if (!pg::is_uri(location)) {
    auto store = Store::open(location);
    if (!store) return std::move(store).error();
    return std::make_unique<AsyncStore>(io, std::move(*store), location);
  }
  auto pool = std::make_unique<Pool>();
  pool->options = options;
  const std::size_t threads = std::max<std::size_t>(1, options.threads);
  for (std::size_t i = 0; i < threads; ++i) {
    // The first open migrates; the others find the schema current.
    auto store = PgStore::open(location);
    if (!store) return std::move(store).error();
    auto worker = std::make_unique<Worker>();
    worker->store = std::move(*store);
    pool->workers.push_back(std::move(worker));
  }
  std::unique_ptr<AsyncStore> self(new AsyncStore(io, std::move(pool), pg::redact(location)));
  AsyncStore* raw = self.get();
  for (std::size_t i = 0; i < raw->pool_->workers.size(); ++i) {
    Worker* w = raw->pool_->workers[i].get();
    const bool prober = i == 0;
    w->thread = std::thread([raw, w, prober] {
      auto last_probe = std::chrono::steady_clock::now();
      for (;;) {
        std::function<void(Store*, const Error*)> job;
        {
          std::unique_lock<std::mutex> lock(w->mutex);
          const auto interval = raw->pool_->options.probe_interval;
          w->wake.wait_for(lock, interval, [w] { return w->stopping || !w->queue.empty(); });
          if (w->queue.empty()) {
            if (w->stopping) return;
            lock.unlock();
            // Idle: while down every worker probes (each brings its own connection back);
            // while up, one worker now and then.
            const auto now = std::chrono::steady_clock::now();
            if (raw->down_ || (prober && now - last_probe >= idle_probe_interval)) {
              last_probe = now;
              Status pinged = w->store->ping();
              if (pinged) raw->note_ok();
              else raw->note_error(pinged.error());
            }
            continue;
          }
          job = std::move(w->queue.front());
          w->queue.pop_front();
        }
        job(w->store.get(), nullptr);
      }
    });
  }
  return self;
}

AsyncStore::AsyncStore(boost::asio::io_context& io, std::unique_ptr<Store> inline_store,
                       std::string location)
    : io_(io),
      inline_(inline_store.get()),
      owned_inline_(std::move(inline_store)),
      location_(std::move(location)) {
  since_ms_ = epoch_ms();
  host_id_ = make_host_id();
}

AsyncStore::AsyncStore(boost::asio::io_context& io, Store& borrowed_inline_store)
    : io_(io), inline_(&borrowed_inline_store), location_("(borrowed)") {
  since_ms_ = epoch_ms();
  host_id_ = make_host_id();
}

AsyncStore::AsyncStore(boost::asio::io_context& io, std::unique_ptr<Pool> pool,
                       std::string location)
    : io_(io), pool_(std::move(pool)), location_(std::move(location)) {
  since_ms_ = epoch_ms();
  host_id_ = make_host_id();
}

AsyncStore::~AsyncStore() { stop(); }

void AsyncStore::stop() {
  if (!pool_) return;
  for (auto& w : pool_->workers) {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->stopping = true;
    w->wake.notify_all();
  }
  for (auto& w : pool_->workers)
    if (w->thread.joinable()) w->thread.join();
}

void AsyncStore::submit(std::string_view key, Job job) {
  if (inline_) {
    job(inline_, nullptr);
    return;
  }
  auto& workers = pool_->workers;
  const std::size_t index = key.empty() ? pool_->next++ % workers.size()
                                        : std::hash<std::string_view>()(key) % workers.size();
  Worker& w = *workers[index];
  std::optional<Error> refused;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    if (w.stopping) {
      refused = make_error("db_closed", "the host is shutting down");
    } else if (w.queue.size() >= pool_->options.queue_limit) {
      refused = make_error("db_busy", "the database is busy (" +
                                          std::to_string(w.queue.size()) +
                                          " requests waiting): try again shortly");
    } else {
      w.queue.push_back(std::move(job));
      w.wake.notify_one();
      return;
    }
  }
  job(nullptr, &*refused);  // on the caller's thread; done is posted
}

void AsyncStore::note_ok() {
  if (!down_.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(health_mutex_);
  if (!down_) return;
  down_ = false;
  since_ms_ = epoch_ms();
  error_.clear();
  log_event(LogLevel::info, "db.up", "database=" + location_);
}

void AsyncStore::note_error(const Error& error) {
  if (error.code != "db_unavailable") return;  // the database answered: it is up
  std::lock_guard<std::mutex> lock(health_mutex_);
  error_ = error.message;
  if (down_) return;
  down_ = true;
  since_ms_ = epoch_ms();
  log_event(LogLevel::error, "db.down", "database=" + location_ + " error=" + error.message);
}

StoreHealth AsyncStore::health() const {
  StoreHealth h;
  h.backend = inline_ ? "sqlite" : "postgresql";
  h.location = location_;
  h.threads = pool_ ? pool_->workers.size() : 0;
  if (pool_) {
    for (const auto& w : pool_->workers) {
      std::lock_guard<std::mutex> lock(w->mutex);
      h.queued += w->queue.size();
    }
  }
  std::lock_guard<std::mutex> lock(health_mutex_);
  h.ok = !down_;
  h.error = error_;
  h.since_ms = since_ms_;
  return h;
}

}  // namespace parley::host
