// The job editor: a form and a JSON editor kept in step, a live preview of the next runs
// (the server's engine), and saving with errors shown next to the fields they concern.
"use strict";
(function () {
  const form = document.getElementById("job-form");
  const jsonBox = document.getElementById("json");
  const jsonError = document.getElementById("json-error");
  const formError = document.getElementById("form-error");
  const nameInput = document.getElementById("job-name");
  const recurring = document.getElementById("recurring");
  const context = JSON.parse(document.getElementById("context").textContent);
  const initial = JSON.parse(document.getElementById("initial").textContent);
  const fields = Array.from(form.querySelectorAll("[data-path]"));
  const groups = Array.from(form.querySelectorAll("[data-when]"));
  // A stored signing's "Remove signing" box (its keys are write-only: left empty, kept).
  const removeSigning = Array.from(form.querySelectorAll("[data-signing-remove]"));
  const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

  // -- paths ------------------------------------------------------------------------------
  function getPath(obj, path) {
    let value = obj;
    for (const key of path.split(".")) {
      if (value === null || typeof value !== "object") return undefined;
      const found = Object.keys(value).find((k) => k.toLowerCase() === key.toLowerCase());
      value = found === undefined ? undefined : value[found];
    }
    return value;
  }
  function setPath(obj, path, value) {
    const keys = path.split(".");
    let target = obj;
    for (const key of keys.slice(0, -1)) {
      if (typeof target[key] !== "object" || target[key] === null) target[key] = {};
      target = target[key];
    }
    target[keys[keys.length - 1]] = value;
  }
  function deletePath(obj, path) {
    const cut = path.lastIndexOf(".");
    const parent = getPath(obj, path.slice(0, cut));
    if (parent && typeof parent === "object") delete parent[path.slice(cut + 1)];
  }
  function hidden(el) {
    return el.closest("[hidden]") !== null;
  }

  function signingFields(box) {
    return fields.filter((f) => f.dataset.path.startsWith(box.dataset.signingRemove + "."));
  }

  // -- visibility -------------------------------------------------------------------------
  function controlValue(path) {
    if (path === "recurring") return recurring.checked ? "on" : "";
    const control = fields.find((f) => f.dataset.path === path);
    return control ? control.value : "";
  }
  function updateGroups() {
    // Outer groups first: an inner group's control may itself be hidden.
    for (const group of groups) {
      const values = group.dataset.values.split(",");
      group.hidden = !values.includes(controlValue(group.dataset.when));
    }
    for (const box of removeSigning) {
      for (const field of signingFields(box)) field.disabled = box.checked;
    }
  }

  // -- form -> JSON -----------------------------------------------------------------------
  function read(field) {
    const kind = field.dataset.kind;
    if (kind === "bool") return field.checked ? true : undefined;
    if (kind === "days") {
      const days = Array.from(field.querySelectorAll("input:checked")).map((c) => c.value);
      return days.length ? days : undefined;
    }
    const text = field.value.trim();
    if (text === "") return undefined;
    if (kind === "int") return /^-?\d+$/.test(text) ? Number(text) : text;
    if (kind === "ints") {
      return text.split(/[\s,;]+/).filter(Boolean).map((t) => (/^-?\d+$/.test(t) ? Number(t) : t));
    }
    if (kind === "headers") {
      const headers = {};
      for (const line of field.value.split("\n")) {
        const at = line.indexOf(":");
        if (line.trim() === "") continue;
        if (at < 0) headers[line.trim()] = "";
        else headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
      }
      return headers;
    }
    if (kind === "json") {
      try {
        return JSON.parse(text);
      } catch (e) {
        return text; // the server says what is wrong with it
      }
    }
    if (kind === "monthly") {
      return field.value.split("\n").filter((l) => l.trim()).map((line) => {
        const [day, occurrence] = line.trim().split(/[\s,]+/);
        const item = { day: day };
        if (occurrence !== undefined) item.occurrence = /^-?\d+$/.test(occurrence) ? Number(occurrence) : occurrence;
        return item;
      });
    }
    return field.value;
  }
  function build() {
    const body = {};
    for (const field of fields) {
      if (hidden(field) || field.disabled) continue;
      const value = read(field);
      if (value !== undefined) setPath(body, field.dataset.path, value);
    }
    for (const box of removeSigning) {
      // The stored keys are kept by an empty "signing" object, dropped by its absence.
      const path = box.dataset.signingRemove;
      if (hidden(box) || getPath(body, path.slice(0, path.lastIndexOf("."))) === undefined) continue;
      if (box.checked) deletePath(body, path);
      else if (getPath(body, path) === undefined) setPath(body, path, {});
    }
    const properties = body.properties || {};
    for (const action of [getPath(properties, "action"), getPath(properties, "action.errorAction")]) {
      for (const key of ["serviceBusQueueMessage", "serviceBusTopicMessage"]) {
        const auth = action && action[key] && action[key].authentication;
        if (auth && (auth.sasKeyName || auth.sasKey)) auth.type = "SharedAccessKey";
      }
    }
    if (recurring.checked && properties.recurrence === undefined) properties.recurrence = {};
    const recurrence = properties.recurrence;
    if (recurrence && (recurrence.cron !== undefined || recurrence.rrule !== undefined)) {
      // A cron expression or a rule replaces Azure's fields (the Unit select always has one).
      delete recurrence.frequency;
      delete recurrence.interval;
      delete recurrence.schedule;
    }
    return { properties: properties };
  }

  // -- JSON -> form -----------------------------------------------------------------------
  function write(field, value) {
    const kind = field.dataset.kind;
    if (kind === "bool") {
      field.checked = value === true || String(value).toLowerCase() === "true";
      return;
    }
    if (kind === "days") {
      const days = Array.isArray(value) ? value.map((d) => String(d).toLowerCase()) : [];
      for (const box of field.querySelectorAll("input")) box.checked = days.includes(box.value.toLowerCase());
      return;
    }
    let text = "";
    if (value === undefined || value === null) text = "";
    else if (kind === "ints") text = Array.isArray(value) ? value.join(", ") : String(value);
    else if (kind === "headers") text = Object.entries(value).map(([k, v]) => k + ": " + v).join("\n");
    else if (kind === "json") text = typeof value === "string" ? value : JSON.stringify(value);
    else if (kind === "monthly") {
      text = (Array.isArray(value) ? value : []).map((m) => {
        const day = getPath(m, "day");
        const occurrence = getPath(m, "occurrence");
        return (day || "") + (occurrence !== undefined && occurrence !== null ? " " + occurrence : "");
      }).join("\n");
    } else text = String(value);
    if (field.tagName === "SELECT" && text !== "") {
      const option = Array.from(field.options).find((o) => o.value.toLowerCase() === text.toLowerCase());
      if (option) text = option.value;
    }
    field.value = text;
  }
  function fill(body) {
    const properties = (body && body.properties) || {};
    recurring.checked = getPath(properties, "recurrence") !== undefined;
    // Selects first (they decide which groups show), then everything.
    const ordered = fields.filter((f) => f.tagName === "SELECT").concat(fields.filter((f) => f.tagName !== "SELECT"));
    for (const field of ordered) {
      write(field, getPath({ properties: properties }, field.dataset.path));
    }
    for (const box of removeSigning) {
      const path = box.dataset.signingRemove;
      const holder = getPath({ properties: properties }, path.slice(0, path.lastIndexOf(".")));
      if (holder !== undefined) box.checked = getPath({ properties: properties }, path) === undefined;
    }
    updateGroups();
    const advanced = document.getElementById("advanced");
    if (getPath(properties, "recurrence.schedule")) advanced.open = true;
  }

  // -- secrets ----------------------------------------------------------------------------
  for (const field of fields) {
    if (field.dataset.secret === undefined) continue;
    const path = field.dataset.path.replace(/^properties\./, "");
    if (context.storedSecrets.includes(path)) {
      field.placeholder = "•••••• stored: leave empty to keep it";
    }
  }
  for (const picker of form.querySelectorAll("[data-pfx-for]")) {
    picker.addEventListener("change", () => {
      const file = picker.files[0];
      if (!file) return;
      const reader = new FileReader();
      reader.onload = () => {
        const target = fields.find((f) => f.dataset.path === picker.dataset.pfxFor);
        target.value = String(reader.result).split(",")[1] || "";
        changed();
      };
      reader.readAsDataURL(file);
    });
  }

  // -- errors -----------------------------------------------------------------------------
  // Each source clears only its own errors: a preview answering after a save (scheduled by
  // the edit just before it) must not wipe the server's refusal off the page.
  function clearErrors(source) {
    if (source === "save") formError.hidden = true;
    for (const note of form.querySelectorAll(".field-error.live")) {
      if (note.dataset.source !== source) continue;
      for (const el of form.querySelectorAll("[aria-describedby]")) {
        if (el.getAttribute("aria-describedby") !== note.id) continue;
        el.removeAttribute("aria-invalid");
        el.removeAttribute("aria-describedby");
      }
      note.remove();
    }
  }
  function fieldFor(path) {
    if (!path) return null;
    if (path === "name") return nameInput;
    let wanted = path.replace(/^properties\./i, "").toLowerCase();
    while (wanted) {
      const match = fields.find((f) => !hidden(f) && f.dataset.path.replace(/^properties\./, "").toLowerCase() === wanted);
      if (match) return match;
      const cut = wanted.lastIndexOf(".");
      if (cut < 0) break;
      wanted = wanted.slice(0, cut); // the nearest enclosing field: e.g. the type select
      const typed = fields.find((f) => !hidden(f) && f.dataset.path.replace(/^properties\./, "").toLowerCase() === wanted + ".type");
      if (typed) return typed;
    }
    return null;
  }
  function showError(error, where) {
    const target = fieldFor(error.field);
    if (target) {
      const holder = target.closest(".field") || target.parentElement;
      const note = document.createElement("p");
      note.className = "field-error live";
      note.dataset.source = where;
      note.id = "err-" + Math.random().toString(36).slice(2);
      note.textContent = error.message;
      holder.appendChild(note);
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-describedby", note.id);
      const advanced = target.closest("details");
      if (advanced) advanced.open = true;
      if (where === "save") target.focus();
    }
    if (where === "save") {
      formError.textContent = error.message;
      formError.hidden = false;
    }
  }

  // -- preview ----------------------------------------------------------------------------
  const list = document.getElementById("preview-list");
  const status = document.getElementById("preview-status");
  const calendar = document.getElementById("calendar");
  let previewTimer = null;
  let previewSeq = 0;
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 250);
  }
  async function preview() {
    const properties = build().properties;
    const seq = ++previewSeq;
    // With the job's name, the server previews the job's own next runs while its schedule
    // is unchanged (saving it then keeps them), and a fresh schedule once it is changed.
    const request = {
      startTime: properties.startTime || null,
      recurrence: properties.recurrence || null,
      state: properties.state || null,
      collection: context.collection,
      job: context.job,
    };
    let answer;
    try {
      const response = await fetch("/portal/preview", {
        method: "POST",
        headers: { "content-type": "application/json", "x-csrf-token": context.csrf },
        body: JSON.stringify(request),
      });
      answer = await response.json();
      if (response.status === 401) window.location = "/signin?next=" + encodeURIComponent(window.location.pathname);
    } catch (e) {
      status.textContent = "The preview is unavailable: " + e;
      return;
    }
    if (seq !== previewSeq) return; // a newer request is on its way
    clearErrors("preview");
    list.replaceChildren();
    calendar.replaceChildren();
    if (answer.error) {
      status.textContent = answer.error.message;
      status.className = "field-error";
      showError(answer.error, "preview");
      return;
    }
    status.className = "hint";
    const count = answer.occurrences.length;
    if (count === 0) {
      status.textContent = answer.kept ? "The job has no next run: its series has ended."
        : "This schedule never runs (after now).";
    } else {
      const kept = !answer.kept ? ""
        : (answer.scheduled ? "The job's next runs, kept when saved with this schedule. "
          : "The job is not scheduled now (not enabled): its schedule gives these times. ");
      status.textContent = kept
        + (answer.complete ? "The series ends after " + count + " run" + (count > 1 ? "s" : "") + "." : "Times in UTC" + (answer.timeZone ? " and " + answer.timeZone : "") + ".");
    }
    for (const item of answer.occurrences) {
      const li = document.createElement("li");
      const time = document.createElement("time");
      time.dateTime = item.utc;
      time.textContent = item.utc.replace("T", " ");
      li.appendChild(time);
      if (item.local) {
        const local = document.createElement("span");
        local.className = "muted";
        local.textContent = " · " + item.local;
        li.appendChild(local);
      }
      list.appendChild(li);
    }
    drawCalendar(answer.occurrences.map((o) => o.utc));
  }
  function drawCalendar(instants) {
    const byDay = new Map();
    for (const text of instants) {
      const day = text.slice(0, 10);
      byDay.set(day, (byDay.get(day) || []).concat(text.slice(11, 19)));
    }
    const months = [];
    for (const day of byDay.keys()) {
      const month = day.slice(0, 7);
      if (!months.includes(month)) months.push(month);
    }
    for (const month of months.slice(0, 3)) {
      const [year, mon] = month.split("-").map(Number);
      const table = document.createElement("table");
      const caption = document.createElement("caption");
      caption.textContent = new Date(Date.UTC(year, mon - 1, 1)).toLocaleString("en", { month: "long", year: "numeric", timeZone: "UTC" });
      table.appendChild(caption);
      const head = table.createTHead().insertRow();
      for (const name of DAYS) {
        const th = document.createElement("th");
        th.textContent = name.slice(0, 2);
        head.appendChild(th);
      }
      const body = table.createTBody();
      const first = (new Date(Date.UTC(year, mon - 1, 1)).getUTCDay() + 6) % 7;
      const length = new Date(Date.UTC(year, mon, 0)).getUTCDate();
      let row = body.insertRow();
      for (let i = 0; i < first; i++) row.insertCell();
      for (let d = 1; d <= length; d++) {
        if (row.cells.length === 7) row = body.insertRow();
        const cell = row.insertCell();
        cell.textContent = d;
        const key = month + "-" + String(d).padStart(2, "0");
        if (byDay.has(key)) {
          cell.className = "hit";
          cell.title = byDay.get(key).join(", ") + " UTC";
        }
      }
      calendar.appendChild(table);
    }
  }

  // -- keeping both sides in step -----------------------------------------------------------
  function changed() {
    updateGroups();
    if (document.activeElement !== jsonBox) {
      jsonBox.value = JSON.stringify(build(), null, 2);
      jsonError.hidden = true;
    }
    schedulePreview();
  }
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  jsonBox.addEventListener("input", () => {
    try {
      const body = JSON.parse(jsonBox.value);
      jsonError.hidden = true;
      fill(body);
      schedulePreview();
    } catch (e) {
      jsonError.textContent = "Not valid JSON yet: " + e.message;
      jsonError.hidden = false;
    }
  });

  // -- saving -----------------------------------------------------------------------------
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors("save");
    let body;
    try {
      body = JSON.parse(jsonBox.value);
    } catch (e) {
      jsonError.textContent = "Fix the JSON first: " + e.message;
      jsonError.hidden = false;
      jsonBox.focus();
      return;
    }
    const name = nameInput.value.trim();
    // The rule comes from the server (the input's pattern, compiled as the browser does).
    if (!new RegExp("^(?:" + nameInput.pattern + ")$", "v").test(name)) {
      showError({ field: "name", message: nameInput.dataset.rule }, "save");
      return;
    }
    const url = context.saveUrl + "/" + encodeURIComponent(name) + (context.isNew ? "?new=1" : "");
    const save = document.getElementById("save");
    if (!save) return; // a read-only view: this role may not change jobs
    save.disabled = true;
    try {
      const response = await fetch(url, {
        method: "PUT",
        headers: { "content-type": "application/json", "x-csrf-token": context.csrf },
        body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (response.ok) {
        window.location = answer.url + "?done=" + encodeURIComponent(answer.created ? "Job created." : "Job saved.");
        return;
      }
      showError(answer.error || { message: "The server refused the job (" + response.status + ")." }, "save");
    } catch (e) {
      showError({ message: "The job could not be saved: " + e }, "save");
    } finally {
      save.disabled = false;
    }
  });

  fill(initial);
  jsonBox.value = JSON.stringify(build(), null, 2);
  schedulePreview();
})();
