// The browser's audio for one call: the microphone, one AudioContext, one AudioWorkletNode.
// The worklet (parley-worklet.js) only moves samples; every step of DSP runs in the wasm
// core through the raw entry points (pl_capture, pl_render), each block copied once into or
// out of buffers the core allocated once.
//
// Playback routing and the echo canceller. The agent's voice is played through the same
// AudioContext that captures the microphone, straight to its destination, on the default
// output device (never setSinkId, which detaches Chrome's echo canceller from the output it
// uses as reference). getUserMedia is asked for echoCancellation: current desktop Chrome runs
// its echo canceller in the audio service with everything Chrome renders as the reference
// ("chrome-wide echo cancellation"); Firefox cancels what its own media graph plays, Web Audio
// included; Safari uses the system's voice-processing unit, which hears all output. The
// alternative, routing playback through a loopback RTCPeerConnection into an <audio> element
// (the workaround for older Chrome, whose canceller only heard WebRTC streams), would put a
// WebRTC jitter buffer and an Opus round trip between our queue and the speaker: barge-in
// could then not silence playback within one render quantum, and the voice would be
// re-encoded. So we take the direct path.
import * as M from './core.mjs';
import { clientError } from './errors.mjs';

const QUANTUM = 128;
const RING_SIZE = 16384;    // worklet ring: 341 ms at 48 kHz, far more than the target below
const TARGET_BLOCKS = 3;    // agent audio kept queued in the worklet, in capture blocks
const POOL_SECONDS = 1;     // capture buffers in circulation: a second of audio, so that a
                            // page whose main thread stalls for 300 ms loses nothing

// Opens the microphone and the worklet for `client` (which receives the blocks). Errors are
// ParleyErrors: microphone_denied, no_microphone, microphone_busy, insecure_context,
// unsupported_browser.
export async function openBrowserAudio(client, workletUrl) {
  if (typeof window !== 'undefined' && window.isSecureContext === false)
    throw clientError('insecure', '', 'the page is not a secure context');
  const media = typeof navigator !== 'undefined' && navigator.mediaDevices;
  const AudioContextClass = globalThis.AudioContext || globalThis.webkitAudioContext;
  if (!media || !media.getUserMedia || !AudioContextClass || !globalThis.AudioWorkletNode)
    throw clientError('unsupported', '', 'getUserMedia, AudioContext or AudioWorklet is missing');
  let stream;
  try {
    stream = await media.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
  } catch (error) {
    throw clientError('media', error && error.name, error && error.message);
  }
  let context;
  try {
    context = new AudioContextClass({ latencyHint: 'interactive' });
    await context.audioWorklet.addModule(workletUrl);
    if (context.state === 'suspended') await context.resume().catch(() => {});
  } catch (error) {
    for (const track of stream.getTracks()) track.stop();
    if (context) context.close().catch(() => {});
    throw clientError('unsupported', '', `the audio worklet could not start: ${error && error.message}`);
  }
  return new BrowserAudio(client, stream, context);
}

class BrowserAudio {
  constructor(client, stream, context) {
    this.client = client;
    this.stream = stream;
    this.context = context;
    this.sampleRate = context.sampleRate;
    // About 20 ms per block, in whole quanta: 1024 samples at 48 kHz, 896 at 44.1 kHz.
    this.block = QUANTUM * Math.max(1, Math.round((this.sampleRate * 0.02) / QUANTUM));
    this.playPool = [];
    this.drainPending = false;
    this.closed = false;
    this.source = context.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(context, 'parley-processor', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCount: 1,
      channelCountMode: 'explicit',
      processorOptions: { block: this.block, ringSize: RING_SIZE },
    });
    this.node.port.onmessage = (event) => this.receive(event.data);
    const pool = Math.ceil((POOL_SECONDS * this.sampleRate) / this.block);
    for (let i = 0; i < pool; ++i) {
      const buffer = new Float32Array(this.block + 2);
      this.node.port.postMessage(buffer, [buffer.buffer]);
    }
    this.source.connect(this.node);
    this.node.connect(context.destination);
  }

  receive(data) {
    if (this.closed) return;
    if (data.length !== this.block + 2) {  // a spent playback array
      this.playPool.push(data);
      return;
    }
    const ring = data[this.block];
    const lost = data[this.block + 1];
    if (lost > 0) this.client._captureLost((1000 * lost) / this.sampleRate);
    this.client._capture(data, this.block);
    this.node.port.postMessage(data, [data.buffer]);
    this.topUp(ring);
  }

  // Keeps about TARGET_BLOCKS blocks of agent audio in the worklet's ring.
  topUp(ring) {
    const h = this.client._h;
    const queued = M.raw.queued(h);
    if (queued > 0) {
      let n = TARGET_BLOCKS * this.block - ring;
      n -= n % QUANTUM;
      if (n > 0) {
        n = Math.min(n, 4096);
        const flags = M.raw.render(h, n);
        if (flags & 1) this.drainPending = true;
        const chunk = this.playPool.pop() || new Float32Array(4096);
        chunk.set(M.heapF32().subarray(this.client._renderPtr >> 2, (this.client._renderPtr >> 2) + n));
        this.node.port.postMessage({ p: chunk, n }, [chunk.buffer]);
        return;
      }
    }
    if (this.drainPending && queued === 0 && ring < QUANTUM) {
      this.drainPending = false;
      this.client._playbackDrained();
    }
  }

  command(c) {
    if (this.closed) return;
    if (c === 'clear') this.drainPending = false;
    this.node.port.postMessage({ c });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.node.port.postMessage({ c: 'stop' });
      this.source.disconnect();
      this.node.disconnect();
    } catch { /* already disconnected */ }
    for (const track of this.stream.getTracks()) track.stop();
    this.context.close().catch(() => {});
  }
}
