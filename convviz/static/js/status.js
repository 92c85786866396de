// What the page says about itself: a problem the server (or the panel) refused, shown where the
// grids were, with everything drawn from the last good problem hidden or marked out of date
// (the grids, the equations, the player's count); and what a link asked for that could not be
// used (the rest of the link is shown).

export class PageStatus {
  // error: the message box in place of the grids; notice: the link's box; stale: the elements
  // drawn from the problem (hidden while it is refused); player: its count is out of date too.
  constructor({ error, notice, stale, player, form }) {
    Object.assign(this, { error, notice, stale, player, form });
    this.noticeItems = [];
    notice.addEventListener("click", (e) => {
      if (e.target.closest("button.dismiss")) this.showNotice([]);
    });
  }

  // message: what is wrong (the API's words); field: the panel's input to change, if known;
  // keep: the grids are still right (the steps could not be fetched), so they stay.
  showError(message, { field = null, keep = false } = {}) {
    for (const input of this.form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
    if (!message) {
      this.error.hidden = true;
      for (const el of this.stale) el.classList.remove("out-of-date");
      this.player.setStale(false);
      return;
    }
    const input = field ? this.form.elements[field] : null;
    if (input) input.setAttribute("aria-invalid", "true");
    const what = document.createElement("p");
    what.className = "what";
    what.textContent = message;
    const change = document.createElement("p");
    change.className = "change";
    change.textContent = input
      ? `Change ${field} in the problem panel (it is marked there), or choose a preset.`
      : "Change the problem in the panel on the left, or choose a preset.";
    if (keep) change.textContent = "The grids are right; the steps could not be fetched. Try again, or reload the page.";
    this.error.replaceChildren(what, change);
    this.error.hidden = false;
    if (keep) return;
    for (const el of this.stale) el.classList.add("out-of-date");
    this.player.setStale(true);
  }

  // items: [{key, value, why}] the page could not use from the link.
  showNotice(items) {
    this.noticeItems = items;
    this.notice.hidden = !items.length;
    if (!items.length) return;
    const head = document.createElement("p");
    head.textContent = `This link asked for ${items.length === 1 ? "something" : "things"} the page cannot show; `
      + "the rest of it is shown:";
    const list = document.createElement("ul");
    for (const { key, value, why } of items) {
      const li = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = `${key}=${value}`;
      li.append(code, `: ${why}`);
      list.append(li);
    }
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "link dismiss";
    dismiss.textContent = "dismiss";
    this.notice.replaceChildren(head, list, dismiss);
  }

  addNotice(item) {
    if (!this.noticeItems.some((i) => i.key === item.key)) this.showNotice([...this.noticeItems, item]);
  }
}
