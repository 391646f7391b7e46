// Parley's AudioWorklet processor (DESIGN §7). It only moves samples: the microphone's render
// quanta are gathered into blocks and handed to the main thread, where the wasm core
// resamples, encodes and frames them; the agent's voice, already resampled to the context
// rate by the core, comes back in chunks and is played from a small ring. No DSP here.
//
// process() allocates nothing: the capture blocks come from a pool of Float32Arrays that
// travel to the main thread and back (transferred, never copied or created here), the ring
// is allocated once, and the transfer list is one array reused for every post. Loaded from
// its own same-origin file (no blob:, no eval), so a strict CSP needs only script-src 'self'.
//
// A page that keeps its main thread busy (a long task, a slow layout) holds on to the blocks
// sent to it; the pool (about a second of audio, allocated once by the main thread) lets the
// microphone go on filling blocks meanwhile, so a 300 ms stall loses nothing. When no buffer is
// left the quanta cannot be kept: they are counted, never dropped silently, and the count goes
// with the next block (the main thread raises a warning).
//
// Messages in (port):
//   Float32Array(block + 2)       a capture buffer back from the main thread, for the pool
//   {p: Float32Array, n}          n samples of agent audio to append to the ring (the array
//                                 goes back to the main thread for reuse)
//   {c: "clear"}                  barge-in: drop the ring now; the next quantum is silence
//   {c: "pause"} / {c: "unpause"} hold / resume the ring
//   {c: "stop"}                   end the processor
// Messages out: a filled capture block, followed by two numbers: the samples then waiting in
// the ring (the main thread tops the ring up from that) and the microphone samples lost since
// the previous block because no buffer was free; and the spent playback arrays.
class ParleyProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.block = o.block;
    this.ring = new Float32Array(o.ringSize);  // a power of two
    this.mask = o.ringSize - 1;
    this.read = 0;   // samples played since the start (ring positions are these & mask)
    this.write = 0;  // samples received since the start
    this.pool = [];
    this.current = null;
    this.filled = 0;
    this.paused = false;
    this.alive = true;
    this.lost = 0;   // microphone samples not kept since the last block sent
    this.started = false;
    this.transfer = [null];
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(m) {
    if (m instanceof Float32Array) {
      this.started = true;
      if (this.current === null) {
        this.current = m;
        this.filled = 0;
      } else {
        this.pool.push(m);
      }
      return;
    }
    if (m.p) {
      const room = this.ring.length - (this.write - this.read);
      const n = Math.min(m.n, room);
      for (let i = 0; i < n; ++i) this.ring[(this.write + i) & this.mask] = m.p[i];
      this.write += n;
      this.port.postMessage(m.p, [m.p.buffer]);
      return;
    }
    if (m.c === 'clear') this.read = this.write;
    else if (m.c === 'pause') this.paused = true;
    else if (m.c === 'unpause') this.paused = false;
    else if (m.c === 'stop') this.alive = false;
  }

  process(inputs, outputs) {
    const input = inputs[0];
    const output = outputs[0];
    const out = output[0];
    const n = out.length;

    const block = this.current;
    if (block === null) {
      if (this.started) this.lost += n;  // (before the first buffer arrives nothing is lost yet)
    } else {
      if (input.length > 0) block.set(input[0], this.filled);
      else block.fill(0, this.filled, this.filled + n);
      this.filled += n;
      if (this.filled >= this.block) {
        block[this.block] = this.write - this.read;
        block[this.block + 1] = this.lost;
        this.lost = 0;
        this.transfer[0] = block.buffer;
        this.port.postMessage(block, this.transfer);
        this.current = this.pool.length > 0 ? this.pool.pop() : null;
        this.filled = 0;
      }
    }

    let i = 0;
    if (!this.paused) {
      for (; i < n && this.read < this.write; ++i) out[i] = this.ring[this.read++ & this.mask];
    }
    for (; i < n; ++i) out[i] = 0;
    for (let c = 1; c < output.length; ++c) output[c].set(out);
    return this.alive;
  }
}

registerProcessor('parley-processor', ParleyProcessor);
