// Phone test helpers (issue 16): the far ends of SIP calls as real programs, started by the
// test inside its private network namespace (tests/host/netns.sh: loopback only, so fixed
// ports cannot collide with anything else on the machine):
// - Baresip: baresip (Debian baresip-core) with one account, answering automatically,
//   playing a WAV as its microphone (aufile) and recording what it hears (sndfile);
// - Sipp: SIPp (Debian sip-tester) running an XML scenario (busy, ring, refuse, ...).
// Plus 8 kHz WAV files in and out.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "test_client.hpp"
#include "test_speech.hpp"

namespace parley::test {

// A child process with a bounded life: SIGTERM (then SIGKILL) in the destructor.
class Child {
 public:
  // argv[0] is the program; stdout and stderr go to `log_path`.
  Child(const std::vector<std::string>& argv, const std::string& log_path);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  bool running();
  // Waits for the child to exit by itself: its exit code, or -1 after timeout_ms.
  int wait(int timeout_ms);
  void stop();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  bool reaped_ = false;
};

// Reads a whole file ("" when missing).
std::string read_file(const std::string& path);
// Waits until `path` contains `needle` (true) or timeout_ms passes (false).
bool wait_for_text(const std::string& path, const std::string& needle, int timeout_ms);

// 16-bit mono WAV at `rate`.
void write_wav(const std::string& path, const Samples& samples, int rate);
// A WAV file's samples (16-bit mono PCM only; empty otherwise) and its rate.
Samples read_wav(const std::string& path, int* rate = nullptr);
// Resampled by the core's resampler.
Samples resample(const Samples& in, int from_rate, int to_rate);
// How well `heard` holds `said` somewhere in it: the best normalised correlation (0..1) of
// their 20 ms loudness envelopes over every offset. Robust to what G.711, a jitter buffer and
// resampling do to the waveform, and still says whether it is the same utterance (two
// different sentences stay far below 0.9).
double envelope_match(const Samples& said, const Samples& heard, int rate);
// pocketsphinx's reading of 16 kHz speech (no hints). It hears telephone-band audio (8 kHz
// G.711) poorly: its only en-us model is wideband (see README, Phone calls).
std::string recognise_16k(const Samples& audio);

struct BaresipOptions {
  std::string user = "+15550002222";   // the account's user part: it answers only this
  int sip_port = 5070;
  std::string microphone_wav;          // 8 kHz, played from the call's start
  int quit_after_s = 30;               // baresip -t
  std::vector<std::string> commands;   // -e commands run at start (e.g. "/dial sip:...")
};

class Baresip {
 public:
  Baresip(const TempDir& dir, const BaresipOptions& options);
  bool ready(int timeout_ms = 5000);  // its log said "baresip is ready"
  std::string log() const { return read_file(log_path_); }
  // What it heard on its last call (the sndfile decoder dump), at 8 kHz.
  Samples recording() const;
  Child& process() { return *child_; }

 private:
  std::string dir_, log_path_;
  std::unique_ptr<Child> child_;
};

// Runs SIPp as a UAS (`scenario_xml`) on 127.0.0.1:port, for one call, in the background.
class Sipp {
 public:
  Sipp(const TempDir& dir, const std::string& scenario_xml, int port,
       const std::vector<std::string>& extra_args = {});
  int wait(int timeout_ms) { return child_->wait(timeout_ms); }
  std::string log() const { return read_file(log_path_); }

 private:
  std::string log_path_;
  std::unique_ptr<Child> child_;
};

// A SIPp trunk (UAS) that answers the call (PCMU, with its SDP) and is then asked to transfer
// it: the REFER's Refer-To must match `refer_to_regex` (else SIPp fails). It answers the REFER
// with `refer_reply` ("202 Accepted", or a refusal such as "603 Decline"); after a 202 it
// sends two NOTIFYs (message/sipfrag): "SIP/2.0 100 Trying", then "SIP/2.0 " + `outcome`
// ("200 OK": the transfer worked; "486 Busy Here": the new call failed). Then it takes the
// BYE that ends the call.
std::string sipp_transfer_scenario(const std::string& refer_to_regex,
                                   const std::string& refer_reply, const std::string& outcome);

}  // namespace parley::test
