// The loading indicator beside the player: a progress bar and a count while a window of steps
// streams in (large traces arrive a window at a time), hidden once it is done.

export class LoadingBar {
  constructor({ box, bar, text }) {
    Object.assign(this, { box, bar, text });
  }

  // As StepSource reports it: steps start..stop-1 asked for, `received` of them arrived.
  show({ start, stop, received, done }) {
    this.box.hidden = done;
    this.bar.max = stop - start;
    this.bar.value = received;
    this.text.textContent = `steps ${(start + 1).toLocaleString("en")}\u2013${stop.toLocaleString("en")}: ${received.toLocaleString("en")} loaded`;
  }
}
