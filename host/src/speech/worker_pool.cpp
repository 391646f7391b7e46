#include "worker_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <utility>

namespace parley::host {
namespace {

// Speech work is background work beside the io thread, which answers every socket and sends
// every frame: a synthesis or a recognition must not keep it waiting (issue 16). A host run
// under a real-time policy (chrt, as bench/host-load does) hands it to every thread it makes;
// a worker under SCHED_FIFO then holds the core for a whole synthesis while the io thread
// waits (1,000 distinct greetings: ping p99 60 ms, against 14 ms with this). Workers leave an
// inherited real-time policy for the normal one, so the io thread preempts them. Their nice
// value stays: below the io thread's they would also lose the core to unrelated processes,
// and recognition (which a caller waits on) would fall behind.
void leave_real_time() {
  const int policy = sched_getscheduler(0);
  if (policy != SCHED_FIFO && policy != SCHED_RR) return;
  sched_param normal{};
  normal.sched_priority = 0;
  (void)pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal);
}

}  // namespace

WorkerPool::WorkerPool(std::size_t threads, std::size_t queue_limit) : queue_limit_(queue_limit) {
  if (threads == 0) threads = 1;
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

bool WorkerPool::post(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= queue_limit_) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

std::size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

std::size_t WorkerPool::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

void WorkerPool::run() {
  leave_real_time();
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    try {
      job();
    } catch (...) {
      // A job reports its own failures; one that throws anyway must not take the pool down.
    }
    job = nullptr;  // destroy what the job held before taking the lock again
    lock.lock();
    --running_;
  }
}

}  // namespace parley::host
