#include "test_postgres.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

namespace parley::test {

namespace {

namespace fs = std::filesystem;

std::string find_bin_dir() {
  if (const char* env = std::getenv("PARLEY_PG_BIN")) return env;
  for (const char* dir : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
                          "/usr/lib/postgresql/14/bin"}) {
    if (fs::exists(fs::path(dir) / "postgres")) return dir;
  }
  return "";
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  socklen_t length = sizeof(address);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// fork + exec as the given user, stdout/stderr to `log`; the child gets `death_signal` when
// this process (thread) dies. Returns the pid.
int spawn(const std::vector<std::string>& argv, const std::string& log, bool switch_user,
          unsigned uid, unsigned gid, int death_signal) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (switch_user) {
      if (::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(126);
    }
    // After the user change: a credential change clears the parent-death signal.
    if (death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, death_signal);
      if (::getppid() != parent) ::_exit(0);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int run_and_wait(const std::vector<std::string>& argv, const std::string& log, bool switch_user,
                 unsigned uid, unsigned gid) {
  const int pid = spawn(argv, log, switch_user, uid, gid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string conninfo(int port, const std::string& database, bool with_password) {
  std::string uri = std::string("postgresql://") + TestPostgres::user;
  if (with_password) uri += std::string(":") + TestPostgres::password;
  uri += "@127.0.0.1:" + std::to_string(port) + "/" + database;
  return uri;
}

}  // namespace

bool store_suite_on_postgres() {
  const char* env = std::getenv("PARLEY_TEST_STORE");
  return env != nullptr && std::string(env) == "postgres";
}

TestPostgres& TestPostgres::instance() {
  static std::unique_ptr<TestPostgres> server(new TestPostgres());
  return *server;
}

TestPostgres::TestPostgres() { init(); }

void TestPostgres::init() {
  bin_dir_ = find_bin_dir();
  INFO("PostgreSQL server binaries not found: install Debian's postgresql (scripts/setup.sh)");
  REQUIRE(!bin_dir_.empty());
  char pattern[] = "/tmp/parley-pg-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  REQUIRE(made != nullptr);
  dir_ = made;
  data_dir_ = dir_ + "/data";
  if (::geteuid() == 0) {
    // PostgreSQL refuses to run as root: run it as the `postgres` user the package made.
    const passwd* pw = ::getpwnam("postgres");
    INFO("running as root needs the `postgres` user (Debian's postgresql package makes it)");
    REQUIRE(pw != nullptr);
    as_postgres_user_ = true;
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    REQUIRE(::chown(dir_.c_str(), uid_, gid_) == 0);
  }
  const std::string pwfile = dir_ + "/pw";
  {
    std::ofstream out(pwfile);
    out << password << "\n";
  }
  if (as_postgres_user_) REQUIRE(::chown(pwfile.c_str(), uid_, gid_) == 0);
  const std::string log = dir_ + "/initdb.log";
  const int rc = run_and_wait({bin_dir_ + "/initdb", "-D", data_dir_, "-U", user,
                               "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8",
                               "--locale=C", "--no-sync"},
                              log, as_postgres_user_, uid_, gid_);
  INFO("initdb failed: " << read_file(log));
  REQUIRE(rc == 0);
  port_ = free_port();
  start();
}

void TestPostgres::start() {
  const std::string log = dir_ + "/postgres.log";
  // fsync off: the tests kill hosts, never the machine; the server's own durability is not
  // what they test, and it makes each commit cheap on a shared 2-core box.
  pid_ = spawn({bin_dir_ + "/postgres", "-D", data_dir_, "-p", std::to_string(port_), "-k",
                dir_, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
                "full_page_writes=off", "-c", "max_connections=300", "-c",
                "shared_buffers=64MB"},
               log, as_postgres_user_, uid_, gid_, SIGQUIT);
  wait_ready();
}

void TestPostgres::wait_ready() {
  const std::string info = "host=127.0.0.1 port=" + std::to_string(port_) +
                           " dbname=postgres user=" + user + " connect_timeout=2";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    if (PQping(info.c_str()) == PQPING_OK) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("postgres exited at start: " << read_file(dir_ + "/postgres.log"));
    }
    if (std::chrono::steady_clock::now() > deadline)
      FAIL("postgres did not accept connections within 60 s: "
           << read_file(dir_ + "/postgres.log"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void TestPostgres::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGINT);  // fast shutdown: clients are disconnected at once
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

TestPostgres::~TestPostgres() {
  stop();
  std::error_code ignored;
  if (!dir_.empty()) fs::remove_all(dir_, ignored);
}

std::string TestPostgres::new_database() {
  const std::string name = "t" + std::to_string(++counter_);
  sql(conninfo(port_, "postgres", true), "CREATE DATABASE " + name + " TEMPLATE template0");
  return conninfo(port_, name, true);
}

std::string TestPostgres::uri_without_password(const std::string& database) const {
  return conninfo(port_, database, false);
}

std::string TestPostgres::sql(const std::string& database_uri, const std::string& statement) {
  PGconn* conn = PQconnectdb(database_uri.c_str());
  INFO("connect: " << PQerrorMessage(conn));
  REQUIRE(PQstatus(conn) == CONNECTION_OK);
  PGresult* result = PQexec(conn, statement.c_str());
  const ExecStatusType status = PQresultStatus(result);
  std::string out;
  if (status == PGRES_TUPLES_OK && PQntuples(result) > 0 && PQnfields(result) > 0)
    out = PQgetvalue(result, 0, 0);
  const std::string message = PQresultErrorMessage(result);
  PQclear(result);
  PQfinish(conn);
  INFO(statement << ": " << message);
  REQUIRE((status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK));
  return out;
}

}  // namespace parley::test
