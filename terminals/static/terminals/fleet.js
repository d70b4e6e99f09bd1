// Progressive enhancement for the fleet list: a "select every terminal on this page" checkbox.
// Without JavaScript it stays hidden and each terminal is selected on its own.
document.querySelectorAll("[data-select-all]").forEach((all) => {
  const boxes = () => document.querySelectorAll('input[name="terminal"][form="bulk"]');
  all.hidden = false;
  all.addEventListener("change", () => boxes().forEach((box) => { box.checked = all.checked; }));
});
