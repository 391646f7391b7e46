// Store::open: the one place that turns `server.database` into a store implementation.
#include "parley/host/store.hpp"

#include "sqlite_store.hpp"

namespace parley::host {

Result<std::unique_ptr<Store>> Store::open(const std::string& location) {
  auto sqlite = SqliteStore::open(location);
  if (!sqlite) return std::move(sqlite).error();
  return std::unique_ptr<Store>(std::move(*sqlite));
}

}  // namespace parley::host
