// An AudioWorklet processor for tests/browser/app.js: its input (the remote track, in a 24 kHz AudioContext)
// as PCM16 mono, posted to the page in 100 ms blocks.
class Recorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Int16Array(2400);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0]?.[0];
    if (channel) {
      for (const sample of channel) {
        this.block[this.filled++] = Math.max(-32768, Math.min(32767, Math.round(sample * 32767)));
        if (this.filled === this.block.length) {
          this.port.postMessage(this.block.buffer, [this.block.buffer]);
          this.block = new Int16Array(2400);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("recorder", Recorder);
