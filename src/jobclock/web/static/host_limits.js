// The host limits form of a collection's page: "Add a rule" adds a row, each row's
// "Remove" takes it away. Without this script the form works as well: its empty rows add
// rules, and each row's Remove box leaves its rule out when saved.
"use strict";
(function () {
  const form = document.getElementById("host-limits-form");
  if (!form) return;
  const body = form.querySelector("[data-rules]");
  const template = document.getElementById("host-limit-row");
  const add = form.querySelector("[data-add-rule]");
  const MAX_ROWS = 50;
  // Field names only need to differ: a new row takes the next unused index.
  let next = 0;
  for (const input of form.querySelectorAll("[name^='host_']")) {
    next = Math.max(next, Number(input.name.slice(5)) + 1);
  }

  function rows() {
    return Array.from(body.querySelectorAll("[data-rule]"));
  }

  // Labels say which rule an input belongs to: "Host (rule 2)".
  function renumber() {
    rows().forEach((row, index) => {
      for (const el of row.querySelectorAll("[data-label]")) {
        el.setAttribute("aria-label", el.dataset.label + " (rule " + (index + 1) + ")");
      }
    });
    add.disabled = rows().length >= MAX_ROWS;
  }

  function wire(row) {
    const box = row.querySelector("[data-remove-box]");
    const button = row.querySelector("[data-remove-rule]");
    // A row already marked "Remove" (typed without the script) keeps its box.
    if (box.querySelector("input").checked) return;
    box.hidden = true;
    button.hidden = false;
    button.addEventListener("click", () => {
      const after = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      if (!rows().length) addRow();
      renumber();
      const focus = after && after.isConnected ? after.querySelector("input") : add;
      (focus || add).focus();
    });
  }

  function addRow() {
    const index = String(next++);
    const fragment = template.content.cloneNode(true);
    for (const el of fragment.querySelectorAll("[name]")) {
      el.name = el.name.replace("__index__", index);
    }
    const row = fragment.querySelector("[data-rule]");
    body.appendChild(fragment);
    wire(row);
    return row;
  }

  rows().forEach(wire);
  add.hidden = false;
  add.addEventListener("click", () => {
    if (rows().length >= MAX_ROWS) return;
    const row = addRow();
    renumber();
    row.querySelector("input").focus();
  });
  renumber();
})();
