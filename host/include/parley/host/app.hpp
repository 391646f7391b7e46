// The application behind the network layer: sessions, /memori/v2, /v1/voice, /admin.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "parley/host/async_store.hpp"
#include "parley/host/config.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"
#include "parley/host/store.hpp"

namespace parley::host {

// `config`, `db` and `metrics` outlive the application. Starts the outbox deliverer and
// the retention sweep; marks sessions left open by a previous run as resumable (they stay
// valid inside their window, a live call is gone).
std::unique_ptr<Application> make_application(boost::asio::io_context& io,
                                               const HostConfig& config, AsyncStore& db,
                                               Metrics& metrics);

}  // namespace parley::host
