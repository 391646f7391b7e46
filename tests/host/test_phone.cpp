#include "test_phone.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "parley/audio/pcm16.hpp"
#include "parley/audio/resampler.hpp"
#include "parley/host/config.hpp"
#include "parley/host/recognizer.hpp"

namespace parley::test {

Child::Child(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    const int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    execvp(args[0], args.data());
    _exit(127);
  }
}

Child::~Child() { stop(); }

bool Child::running() {
  if (pid_ <= 0 || reaped_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int Child::wait(int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running()) {
    if (std::chrono::steady_clock::now() > end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

void Child::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (wait(3000) == -1) {
    ::kill(pid_, SIGKILL);
    wait(3000);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool wait_for_text(const std::string& path, const std::string& needle, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (read_file(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

namespace {
void put32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put16(std::string& s, std::uint16_t v) {
  s.push_back(static_cast<char>(v & 0xff));
  s.push_back(static_cast<char>(v >> 8));
}
std::uint32_t get32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(s[at + i]);
  return v;
}
}  // namespace

void write_wav(const std::string& path, const Samples& samples, int rate) {
  std::string out = "RIFF";
  const auto data_bytes = static_cast<std::uint32_t>(samples.size() * 2);
  put32(out, 36 + data_bytes);
  out += "WAVEfmt ";
  put32(out, 16);
  put16(out, 1);
  put16(out, 1);
  put32(out, static_cast<std::uint32_t>(rate));
  put32(out, static_cast<std::uint32_t>(rate * 2));
  put16(out, 2);
  put16(out, 16);
  out += "data";
  put32(out, data_bytes);
  for (auto v : samples) put16(out, static_cast<std::uint16_t>(v));
  std::ofstream(path, std::ios::binary) << out;
}

Samples read_wav(const std::string& path, int* rate) {
  const std::string s = read_file(path);
  if (s.size() < 12 || s.compare(0, 4, "RIFF") != 0 || s.compare(8, 4, "WAVE") != 0) return {};
  std::size_t at = 12;
  int r = 0;
  while (at + 8 <= s.size()) {
    const std::string id = s.substr(at, 4);
    std::uint32_t size = get32(s, at + 4);
    at += 8;
    if (id == "fmt " && at + 16 <= s.size()) {
      if (static_cast<std::uint8_t>(s[at]) != 1 || static_cast<std::uint8_t>(s[at + 2]) != 1) return {};
      r = static_cast<int>(get32(s, at + 4));
    } else if (id == "data") {
      // A dump still being written (or cut) says 0 or too much: take what is there.
      if (size == 0 || at + size > s.size()) size = static_cast<std::uint32_t>(s.size() - at);
      Samples out(size / 2);
      std::memcpy(out.data(), s.data() + at, out.size() * 2);
      if (rate) *rate = r;
      return out;
    }
    at += size + (size & 1);
  }
  return {};
}

Samples resample(const Samples& in, int from_rate, int to_rate) {
  auto r = audio::Resampler::create(from_rate, to_rate);
  if (!r || in.empty()) return {};
  std::vector<float> f(in.size());
  audio::decode_pcm16(in.data(), in.size(), f.data());
  std::vector<float> out(r->output_count(f.size()));
  if (!r->process(f.data(), f.size(), out.data(), out.size())) return {};
  Samples pcm(out.size());
  audio::encode_pcm16(out.data(), out.size(), pcm.data());
  return pcm;
}

namespace {
std::vector<double> envelope(const Samples& s, int rate) {
  const std::size_t n = static_cast<std::size_t>(rate / 50);
  std::vector<double> out;
  for (std::size_t at = 0; at + n <= s.size(); at += n) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += double(s[at + i]) * s[at + i];
    out.push_back(std::sqrt(sum / double(n)));
  }
  return out;
}
}  // namespace

double envelope_match(const Samples& said, const Samples& heard, int rate) {
  std::vector<double> a = envelope(said, rate), b = envelope(heard, rate);
  // Only the loud part of `said` (its speech), so leading and trailing quiet do not count.
  std::size_t first = 0, last = a.size();
  const double peak = a.empty() ? 0 : *std::max_element(a.begin(), a.end());
  while (first < a.size() && a[first] < peak * 0.05) ++first;
  while (last > first && a[last - 1] < peak * 0.05) --last;
  if (last - first < 10 || b.size() < last - first) return 0.0;
  a = std::vector<double>(a.begin() + long(first), a.begin() + long(last));
  double best = 0.0;
  for (std::size_t lag = 0; lag + a.size() <= b.size(); ++lag) {
    double ab = 0, aa = 0, bb = 0, ma = 0, mb = 0;
    for (std::size_t i = 0; i < a.size(); ++i) ma += a[i], mb += b[lag + i];
    ma /= double(a.size());
    mb /= double(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double x = a[i] - ma, y = b[lag + i] - mb;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    if (aa > 0 && bb > 0) best = std::max(best, ab / std::sqrt(aa * bb));
  }
  return best;
}

std::string recognise_16k(const Samples& audio) {
  static std::unique_ptr<host::Recognizer> recognizer = [] {
    host::SpeechConfig sc;
    sc.max_decoders = 1;
    sc.vocabulary = 0;
    return host::make_pocketsphinx_recognizer(sc);
  }();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto stream = recognizer->open({});
    if (!stream) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // recognizer_busy: loading
      continue;
    }
    if (!(*stream)->feed(audio.data(), audio.size())) return "<feed failed>";
    auto text = (*stream)->finish();
    return text ? *text : "<finish failed>";
  }
  return "<recognizer unavailable>";
}

Baresip::Baresip(const TempDir& dir, const BaresipOptions& o) {
  dir_ = dir.path() + "/baresip-" + o.user.substr(1);
  std::filesystem::create_directories(dir_ + "/rec");
  std::ostringstream config;
  config << "poll_method epoll\n"
         << "sip_listen 127.0.0.1:" << o.sip_port << "\n"
         // baresip needs a player; aubridge is one that plays into nothing. What it hears is
         // recorded by sndfile (the decoder side), before the player.
         << "audio_player aubridge,sink\n"
         << "audio_alert aubridge,sink\n"
         << "audio_source aufile," << o.microphone_wav << "\n"
         << "module_path /usr/lib/baresip/modules\n"
         << "module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n"
         << "module_app account.so\n"
         // Commands given with -e (/dial) are menu's.
         << (o.commands.empty() ? "" : "module_app menu.so\n")
         << "snd_path " << dir_ << "/rec\n"
         << "rtp_ports 30000-30998\n";
  std::ofstream(dir_ + "/config") << config.str();
  std::ofstream(dir_ + "/accounts")
      << "<sip:" << o.user << "@127.0.0.1:" << o.sip_port << ">;regint=0;answermode=auto\n";
  std::vector<std::string> argv = {"baresip", "-f", dir_, "-t", std::to_string(o.quit_after_s)};
  for (const auto& c : o.commands) {
    argv.push_back("-e");
    argv.push_back(c);
  }
  log_path_ = dir_ + "/baresip.log";
  child_ = std::make_unique<Child>(argv, log_path_);
}

bool Baresip::ready(int timeout_ms) { return wait_for_text(log_path_, "baresip is ready", timeout_ms); }

Samples Baresip::recording() const {
  std::string newest;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ + "/rec")) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 8 && name.compare(name.size() - 8, 8, "-dec.wav") == 0 &&
        entry.path().string() > newest)
      newest = entry.path().string();
  }
  return newest.empty() ? Samples{} : read_wav(newest);
}

Sipp::Sipp(const TempDir& dir, const std::string& scenario_xml, int port,
           const std::vector<std::string>& extra_args) {
  static int n = 0;
  const std::string base = dir.path() + "/sipp-" + std::to_string(++n);
  std::ofstream(base + ".xml") << scenario_xml;
  log_path_ = base + ".log";
  std::vector<std::string> argv = {"sipp", "-sf", base + ".xml", "-i", "127.0.0.1", "-p",
                                   std::to_string(port), "-m", "1", "-nostdin", "-trace_err",
                                   "-error_file", base + ".errors", "-timeout", "30s"};
  for (const auto& a : extra_args) argv.push_back(a);
  child_ = std::make_unique<Child>(argv, log_path_);
  // Until it listens (a TCP connect would be refused; UDP would only be retransmitted).
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < end) {
    if (read_file(log_path_).find("Call-rate") != std::string::npos ||
        std::filesystem::exists(base + "_screen.log"))
      break;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool up = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

std::string sipp_transfer_scenario(const std::string& refer_to_regex,
                                   const std::string& refer_reply, const std::string& outcome) {
  // Our reply to a request (the dialog's headers echoed, our To tag) and our NOTIFYs inside
  // the dialog (From/To the REFER's To/From, captured).
  // (`to_tag`: the INVITE's reply gives the dialog our tag; requests inside it carry it.)
  const auto reply = [](const std::string& status, const std::string& extra, bool to_tag = false) {
    return "  <send><![CDATA[\nSIP/2.0 " + status + "\n[last_Via:]\n[last_From:]\n[last_To:]" +
           (to_tag ? ";tag=[pid]SIPpTag01[call_number]" : "") +
           "\n[last_Call-ID:]\n[last_CSeq:]\n"
           "Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n" +
           extra + "]]></send>\n";
  };
  const auto notify = [](int cseq, const std::string& state, const std::string& frag) {
    return "  <send><![CDATA[\nNOTIFY [$contact] SIP/2.0\n"
           "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
           "From:[$local]\nTo:[$remote]\n[last_Call-ID:]\nCSeq: " +
           std::to_string(cseq) +
           " NOTIFY\nContact: <sip:[local_ip]:[local_port];transport=[transport]>\n"
           "Max-Forwards: 70\nEvent: refer\nSubscription-State: " + state +
           "\nContent-Type: message/sipfrag\nContent-Length: [len]\n\nSIP/2.0 " + frag +
           "\n]]></send>\n  <recv response=\"200\" />\n";
  };
  std::string body =
      "  <recv request=\"INVITE\" />\n" +
      reply("200 OK",
            "Content-Type: application/sdp\nContent-Length: [len]\n\nv=0\n"
            "o=trunk 1 1 IN IP4 [local_ip]\ns=-\nc=IN IP4 [media_ip]\nt=0 0\n"
            "m=audio [media_port] RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=ptime:20\n",
            true) +
      "  <recv request=\"ACK\" />\n"
      "  <recv request=\"REFER\">\n    <action>\n"
      "      <ereg regexp=\".*\" search_in=\"hdr\" header=\"From:\" assign_to=\"remote\" />\n"
      "      <ereg regexp=\".*\" search_in=\"hdr\" header=\"To:\" assign_to=\"local\" />\n"
      "      <ereg regexp=\"sip:[^>]*\" search_in=\"hdr\" header=\"Contact:\" assign_to=\"contact\" />\n"
      "      <ereg regexp=\"" + refer_to_regex +
      "\" search_in=\"hdr\" header=\"Refer-To:\" check_it=\"true\" assign_to=\"target\" />\n"
      "    </action>\n  </recv>\n  <Reference variables=\"target,local,remote,contact\" />\n" +
      reply(refer_reply, "Content-Length: 0\n\n");
  if (refer_reply.rfind("202", 0) == 0)
    body += notify(1, "active;expires=60", "100 Trying") +
            notify(2, "terminated;reason=noresource", outcome);
  body += "  <recv request=\"BYE\" />\n" + reply("200 OK", "Content-Length: 0\n\n");
  return "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"transfer\">\n" +
         body + "</scenario>\n";
}

}  // namespace parley::test
