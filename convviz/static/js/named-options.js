// Fills a <select> with the server's named items ({name, title, description}: presets, check
// examples): the name is the value, the title the text, the description the tooltip.

export function appendNamedOptions(select, items) {
  for (const item of items) {
    const opt = document.createElement("option");
    opt.value = item.name;
    opt.textContent = item.title;
    opt.title = item.description;
    select.append(opt);
  }
}
