// A small fixed pool of threads for the CPU-heavy speech work (recognition, synthesis), so
// that it never runs on the host's one io thread. The queue is bounded: post() refuses a job
// when `queue_limit` jobs are already waiting, and the caller decides what to do (count it,
// keep the audio and try again). Jobs run in the order they were posted; nothing here knows
// about sessions: callers keep at most one job of a stream in flight, which serialises it.
// Workers never run under a real-time policy (worker_pool.cpp says why).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace parley::host {

class WorkerPool {
 public:
  WorkerPool(std::size_t threads, std::size_t queue_limit);
  // Stops: waits for the running jobs, drops the queued ones (destroyed on this thread).
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool is stopping; the job is then not kept.
  bool post(std::function<void()> job);
  std::size_t queued() const;
  std::size_t running() const;
  std::size_t threads() const { return threads_.size(); }
  std::size_t queue_limit() const { return queue_limit_; }

 private:
  void run();

  const std::size_t queue_limit_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace parley::host
