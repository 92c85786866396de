// The phase buttons, built from the registry into <nav class="phases">: one button per phase,
// and for each variant (grad_x's scatter route) a checkbox shown while its base phase is on
// screen. It only reports the phase chosen; main.js loads it.

export class PhaseNav {
  // onChoose(name): the user asked for phase `name` (a variant's name when its toggle is checked).
  constructor(nav, phases, { onChoose }) {
    this.phases = phases;
    this.current = null;
    this.buttons = phases.buttons.map((entry) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.phase = entry.name;
      button.setAttribute("aria-pressed", "false");
      const subtitle = document.createElement("small");
      subtitle.textContent = entry.subtitle;
      button.append(`${entry.title} `, subtitle);
      // pressing the button already lit (a variant lights its base's) keeps the view as it is
      button.addEventListener("click", () => { if (this.lit() !== entry.name) onChoose(entry.name); });
      return button;
    });
    this.toggles = phases.variants.map((entry) => {
      const label = document.createElement("label");
      label.className = `${entry.toggle}-toggle`;
      label.hidden = true;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.id = entry.toggle;
      label.append(box, ` ${entry.toggle_label}`);
      box.addEventListener("change", () => onChoose(box.checked ? entry.name : entry.variant_of));
      return { entry, label, box };
    });
    nav.replaceChildren(...this.buttons, ...this.toggles.map((t) => t.label));
  }

  lit() {
    const base = this.phases.base(this.current);
    return base ? base.name : null;
  }

  // Shows phase `name` as the chosen one: its button (its base's, for a variant) pressed, and
  // the toggles of that button visible and checked when the variant is on screen. `kind`: the
  // problem's (phases.js kindOf); the buttons of phases that do not show it are hidden.
  show(name, kind = "conv") {
    this.current = name;
    const lit = this.lit();
    for (const button of this.buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.phase === lit));
      button.hidden = !this.phases.shows(this.phases.get(button.dataset.phase), kind);
    }
    for (const { entry, label, box } of this.toggles) {
      label.hidden = entry.variant_of !== lit;
      box.checked = entry.name === name;
    }
  }
}
