// A real PostgreSQL 15 for the tests (issue 17): started once per test process, the first
// time a test asks for it, in a fresh temporary directory, as the unprivileged `postgres`
// user when the tests run as root, listening on 127.0.0.1 on a free port; stopped and
// removed when the process exits. If the test process dies, the server gets SIGQUIT from
// the kernel (PR_SET_PDEATHSIG) and exits too.
//
// Password authentication is on (scram-sha-256), as an operator would run it: the role
// `parley` has the password test_postgres::password.
//
// The store suite runs against it when PARLEY_TEST_STORE=postgres (tests/host/CMakeLists.txt
// adds that run to the release preset).
#pragma once

#include <string>

namespace parley::test {

class TestPostgres {
 public:
  // The process-wide server, started on first use. Fails the calling test (REQUIRE) if
  // PostgreSQL cannot be started, saying why.
  static TestPostgres& instance();

  // A new, empty database; returns its URI (with the password in it).
  std::string new_database();
  // The same URI without a password (for PGPASSWORD / password-file tests).
  std::string uri_without_password(const std::string& database) const;
  // Runs SQL on `database` as the `parley` role (REQUIREs success), returning the first
  // column of the first row, or "".
  std::string sql(const std::string& database_uri, const std::string& statement);

  // Stops the server (SIGINT, fast shutdown) and starts it again on the same port and
  // data: what a host sees when the database restarts. stop() then start() for a longer
  // outage.
  void stop();
  void start();

  int port() const { return port_; }
  const std::string& data_dir() const { return data_dir_; }
  static constexpr const char* user = "parley";
  static constexpr const char* password = "parley-test-secret";

  ~TestPostgres();
  TestPostgres(const TestPostgres&) = delete;
  TestPostgres& operator=(const TestPostgres&) = delete;

 private:
  TestPostgres();
  void init();
  void wait_ready();

  std::string bin_dir_;
  std::string dir_;
  std::string data_dir_;
  int port_ = 0;
  int pid_ = -1;
  int counter_ = 0;
  bool as_postgres_user_ = false;
  unsigned uid_ = 0;
  unsigned gid_ = 0;
};

// True when the store suite should run against PostgreSQL (PARLEY_TEST_STORE=postgres).
bool store_suite_on_postgres();

}  // namespace parley::test
