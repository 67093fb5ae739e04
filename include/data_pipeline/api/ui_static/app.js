/*
 * The "Training data" page of the Airflow UI: lists data pipeline tasks, shows one task live, creates,
 * runs and deletes tasks through the task API (same origin, the session cookie; no secret is held here).
 *
 * Views (query string):  (none) task list | ?task_id=ID task view | ?view=create create form |
 *                        ?dag_id=D&dag_run_id=R the task of an Airflow DAG run.
 *
 * data-testid attributes (stable, for browser tests):
 *   whoami, error-message (API error messages, verbatim), notice, home-link
 *   list:    task-list (table), task-row (data-task-id, data-status), task-link, filter-status, filter-text,
 *            filter-apply, page-prev, page-next, page-info, new-task-button, task-count
 *   create:  create-form, field-task-name, field-connection, field-table-filter, table-options,
 *            table-checkbox (data-table), field-table-file, field-business-context, option-<name>
 *            (enable_sql_validation, enable_llm_repair, modify_original_file, enable_training_data_load,
 *            backup_vector_tables, truncate_vector_tables, batch_size), create-submit, tables-status
 *   task:    task-view (data-task-id), task-status, task-progress, task-current-step, waiting-reason,
 *            task-error, step-row (data-step, data-status), log-pane, execute-complete, step-select,
 *            execute-step, delete-task, delete-records, file-row, file-download (data-file),
 *            backup-row, restore-backup (data-backup), vector-backup-row, vector-backup-create, back-link
 *   run:     run-no-task (a run that has no data pipeline task)
 *   dialog:  confirm-dialog, confirm-ok, confirm-cancel
 * Action buttons are rendered only for callers who may run the DAG (GET /me can_run).
 */

const API = new URL("../", window.location.href);
const POLL_MS = 2000;
const PAGE_SIZE = 20;
const STATUSES = ["pending", "in_progress", "partial_completed", "completed", "failed"];
const STEPS = ["ddl_generation", "qa_generation", "sql_validation", "training_load"];
const OPTIONS = [
  ["enable_sql_validation", "Validate generated SQL", true],
  ["enable_llm_repair", "Let the LLM repair invalid SQL", true],
  ["modify_original_file", "Rewrite the pair file with repairs", true],
  ["enable_training_data_load", "Load the training data into the vector store", true],
  ["backup_vector_tables", "Back up the vector tables first", false],
  ["truncate_vector_tables", "Empty the vector tables before loading", false],
];

let me = { user: "", can_run: false };
let pollTimer = null;
let sideData = null;  // the last files and backups of the task shown, reused while polling

// ---- helpers ---------------------------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "testid") el.dataset.testid = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

async function api(path, { method = "GET", json, form } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (json !== undefined) { init.body = JSON.stringify(json); init.headers["Content-Type"] = "application/json"; }
  if (form !== undefined) init.body = form;
  const response = await fetch(new URL(path, API), init);
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const message = body && typeof body.message === "string" ? body.message : `${response.status} ${response.statusText}`;
    throw new ApiError(message, response.status);
  }
  return body ? body.data : null;
}

function showError(error) {
  const box = document.getElementById("error");
  box.textContent = error instanceof Error ? error.message : String(error);
  box.hidden = false;
}

function clearMessages() {
  document.getElementById("error").hidden = true;
  document.getElementById("notice").hidden = true;
}

function notice(text) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.hidden = false;
}

function when(value) { return value ? new Date(value).toLocaleString() : "—"; }

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

function statusBadge(status, testid) {
  return h("span", { class: `status status-${status}`, testid }, status.replaceAll("_", " "));
}

function link(params, text, testid) {
  return h("a", { href: "?" + new URLSearchParams(params).toString(), testid }, text);
}

function confirmDialog(text) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

function setView(...children) {
  const view = document.getElementById("view");
  view.replaceChildren(...children);
}

function stopPolling() {
  if (pollTimer !== null) { clearTimeout(pollTimer); pollTimer = null; }
}

// ---- task list -------------------------------------------------------------------------------------

async function renderList(params) {
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const status = params.get("status") || "";
  const keyword = params.get("q") || "";
  const statusSelect = h("select", { id: "filter-status", testid: "filter-status" },
    h("option", { value: "" }, "any status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === status }, s.replaceAll("_", " "))));
  const text = h("input", { id: "filter-text", type: "search", value: keyword, testid: "filter-text",
    placeholder: "id, name or business context" });
  const go = (nextPage) => {
    const next = new URLSearchParams();
    if (statusSelect.value) next.set("status", statusSelect.value);
    if (text.value.trim()) next.set("q", text.value.trim());
    if (nextPage > 1) next.set("page", String(nextPage));
    window.location.search = next.toString();
  };
  const filters = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); go(1); } },
    h("div", {}, h("label", { for: "filter-status" }, "Status"), statusSelect),
    h("div", {}, h("label", { for: "filter-text" }, "Search"), text),
    h("button", { type: "submit", testid: "filter-apply" }, "Apply"),
    me.can_run ? h("button", { type: "button", class: "primary", testid: "new-task-button",
      onclick: () => { window.location.search = "?view=create"; } }, "New task") : null);
  setView(h("h2", {}, "Tasks"), filters, h("p", {}, "Loading…"));
  const body = { page, page_size: PAGE_SIZE, sort_by: "created_at", sort_order: "desc" };
  if (status) body.status = [status];
  if (keyword) body.keyword = keyword;
  const data = await api("tasks/query", { method: "POST", json: body });
  const rows = data.tasks.map((t) => h("tr", { testid: "task-row", "data-task-id": t.task_id, "data-status": t.status },
    h("td", {}, link({ task_id: t.task_id }, t.task_name || t.task_id, "task-link"),
      t.task_name ? h("div", { class: "muted" }, t.task_id) : null),
    h("td", {}, statusBadge(t.status)),
    h("td", {}, h("progress", { max: 100, value: t.progress, "aria-label": `progress of ${t.task_id}` }), ` ${t.progress}%`),
    h("td", {}, t.current_step || "—"),
    h("td", {}, t.created_by || "—"),
    h("td", {}, when(t.created_at)),
    h("td", {}, when(t.started_at)),
    h("td", {}, when(t.completed_at))));
  const table = h("table", { testid: "task-list" },
    h("thead", {}, h("tr", {}, ["Task", "Status", "Progress", "Current step", "Created by", "Created", "Started",
      "Finished"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 8 }, "No tasks match."))));
  const p = data.pagination;
  const pager = h("div", { class: "pager" },
    h("button", { type: "button", testid: "page-prev", disabled: !p.has_prev, onclick: () => go(page - 1) }, "Previous"),
    h("span", { testid: "page-info" }, `Page ${p.page} of ${Math.max(1, p.total_pages)}`),
    h("button", { type: "button", testid: "page-next", disabled: !p.has_next, onclick: () => go(page + 1) }, "Next"),
    h("span", { class: "muted", testid: "task-count" }, `${p.total} task(s)`));
  setView(h("h2", {}, "Tasks"), filters, table, pager);
}

// ---- the task of a DAG run -------------------------------------------------------------------------

async function renderRun(dagId, runId) {
  const data = await api(`tasks?${new URLSearchParams({ dag_run_id: runId, limit: "5" })}`);
  const task = data.tasks.find((t) => !t.dag_id || t.dag_id === dagId);
  if (task) return renderTask(task.task_id);
  const why = dagId.startsWith("data_pipeline")
    ? `No data pipeline task belongs to run ${runId} of DAG ${dagId}: the task was run again since (each run ` +
      "links the task to the newest run), or it was deleted."
    : `Run ${runId} of DAG ${dagId} is not a data_pipeline run, so it has no training-data task.`;
  setView(h("h2", {}, "Training data"), h("p", { testid: "run-no-task" }, why),
    h("p", {}, link({}, "All tasks", "back-link")));
}

// ---- task view -------------------------------------------------------------------------------------

async function renderTask(taskId, polling = false) {
  const id = encodeURIComponent(taskId);
  const [task, logs] = await Promise.all([api(`tasks/${id}`), api(`tasks/${id}/logs?limit=300`)]);
  if (!polling || !sideData || sideData.taskId !== taskId) {  // files and backups change little while it runs
    const [files, backups, vectors] = await Promise.all([
      api(`tasks/${id}/files`).catch((e) => ({ error: e })),
      api(`tasks/${id}/backups`).catch((e) => ({ error: e })),
      api(`tasks/${id}/vector-backups`).catch((e) => ({ error: e })),
    ]);
    sideData = { taskId, files, backups, vectors };
  }
  const { files, backups, vectors } = sideData;
  const running = task.status === "in_progress";
  const stepNames = task.steps.length ? task.steps.map((s) => s.step_name) : STEPS;

  const meta = h("dl", { class: "meta" },
    h("dt", {}, "Status"), h("dd", {}, statusBadge(task.status, "task-status")),
    h("dt", {}, "Progress"), h("dd", {},
      h("progress", { max: 100, value: task.progress, testid: "task-progress", "aria-label": "progress",
        "data-progress": task.progress }), ` ${task.progress}%`),
    h("dt", {}, "Current step"), h("dd", { testid: "task-current-step" }, task.current_step || "—"),
    h("dt", {}, "Database"), h("dd", {}, task.db_name || "—"),
    h("dt", {}, "Created by"), h("dd", {}, task.created_by || "—"),
    h("dt", {}, "Created"), h("dd", {}, when(task.created_at)),
    h("dt", {}, "Started"), h("dd", {}, when(task.started_at)),
    h("dt", {}, "Finished"), h("dd", {}, when(task.completed_at)),
    h("dt", {}, "Duration"), h("dd", {}, duration(task.duration_seconds)),
    h("dt", {}, "DAG run"), h("dd", {}, task.dag_run_id || "—"),
    h("dt", {}, "Business context"), h("dd", {}, task.business_context || "—"));

  const waiting = task.waiting_reason
    ? h("div", { class: "waiting", role: "status", testid: "waiting-reason" }, `Waiting: ${task.waiting_reason}`) : null;
  const failure = task.error_message
    ? h("div", { class: "error", testid: "task-error" },
      `${task.error_step ? task.error_step + ": " : ""}${task.error_message}`) : null;

  const steps = h("table", {},
    h("thead", {}, h("tr", {}, ["Step", "Status", "Progress", "Started", "Finished", "Duration", "Error"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, task.steps.map((s) => h("tr", { testid: "step-row", "data-step": s.step_name, "data-status": s.status },
      h("td", {}, s.step_name), h("td", {}, statusBadge(s.status)),
      h("td", {}, s.progress_total ? `${s.progress_done}/${s.progress_total}` : "—"),
      h("td", {}, when(s.started_at)), h("td", {}, when(s.completed_at)), h("td", {}, duration(s.duration_seconds)),
      h("td", {}, s.error_message || "")))));

  const actions = me.can_run ? taskActions(task, id, stepNames, running) : null;

  const logPane = h("pre", { class: "log", testid: "log-pane", tabindex: "0", "aria-label": "task log" },
    logs.logs.map((l) => `${new Date(l.timestamp).toLocaleTimeString()} ${l.log_level.padEnd(7)} ` +
      `${l.step_name ? "[" + l.step_name + "] " : ""}${l.message}\n`).join("") || "No log lines yet.");

  const previous = document.querySelector("[data-testid=log-pane]");
  const followLog = !previous || previous.scrollTop + previous.clientHeight >= previous.scrollHeight - 4;
  const keptScroll = previous ? previous.scrollTop : 0;
  setView(
    h("section", { testid: "task-view", "data-task-id": taskId },
      h("p", {}, link({}, "← All tasks", "back-link")),
      h("h2", {}, task.task_name ? `${task.task_name} (${taskId})` : taskId),
      waiting, failure, meta, actions,
      h("h3", {}, "Steps"), steps,
      h("h3", {}, "Log"), logPane,
      h("h3", {}, "Files"), filesSection(files, id),
      h("h3", {}, "File backups"), backupsSection(backups, id),
      h("h3", {}, "Vector-table backups"), vectorSection(vectors, id)));
  logPane.scrollTop = followLog ? logPane.scrollHeight : keptScroll;

  stopPolling();
  if (running) {
    pollTimer = setTimeout(() => renderTask(taskId, true).catch(showError), POLL_MS);
  } else if (polling) {
    await renderTask(taskId);  // it just finished: show its new files too
  }
}

function taskActions(task, id, stepNames, running) {
  const stepSelect = h("select", { id: "step-select", testid: "step-select" },
    stepNames.map((s) => h("option", { value: s }, s)));
  const deleteRecords = h("input", { type: "checkbox", id: "delete-records", testid: "delete-records" });
  const execute = async (body, what) => {
    clearMessages();
    try {
      await api(`tasks/${id}/execute`, { method: "POST", json: body });
      notice(`${what} started.`);
      await renderTask(task.task_id);
    } catch (e) { showError(e); }
  };
  const remove = async () => {
    clearMessages();
    const records = deleteRecords.checked;
    const ok = await confirmDialog(records
      ? `Delete task ${task.task_id}: its directory, files and its records? This cannot be undone.`
      : `Delete the directory and files of task ${task.task_id}? The task stays listed. This cannot be undone.`);
    if (!ok) return;
    try {
      await api(`tasks/${id}`, { method: "DELETE", json: { confirm: true, delete_database_records: records } });
      if (records) { window.location.search = ""; return; }
      notice("Task directory deleted.");
      await renderTask(task.task_id);
    } catch (e) { showError(e); }
  };
  return h("div", { class: "actions" },
    h("button", { type: "button", class: "primary", testid: "execute-complete", disabled: running,
      onclick: () => execute({ execution_mode: "complete" }, "Complete run") }, "Run complete workflow"),
    h("div", {}, h("label", { for: "step-select" }, "Step"), stepSelect),
    h("button", { type: "button", testid: "execute-step", disabled: running,
      onclick: () => execute({ execution_mode: "step", step_name: stepSelect.value }, `Step ${stepSelect.value}`) },
    "Run this step"),
    h("span", {}, deleteRecords, h("label", { for: "delete-records", class: "inline" }, " also delete its records")),
    h("button", { type: "button", class: "danger", testid: "delete-task", onclick: remove }, "Delete task"));
}

function filesSection(files, id) {
  if (files.error) return h("p", { class: "error" }, files.error.message);
  if (!files.files.length) {
    return h("p", { class: "muted" }, files.directory_exists ? "No files yet." : "The task directory was deleted.");
  }
  return h("table", {},
    h("thead", {}, h("tr", {}, ["File", "Type", "Size", "Modified"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, files.files.map((f) => h("tr", { testid: "file-row" },
      h("td", {}, f.file_path.includes("/")
        ? h("a", { href: new URL(`tasks/${id}/files/${f.file_path.split("/").map(encodeURIComponent).join("/")}`, API).pathname,
          download: f.file_name, testid: "file-download", "data-file": f.file_path }, f.file_path)
        : h("a", { href: new URL(`tasks/${id}/files/download/${encodeURIComponent(f.file_name)}`, API).pathname,
          download: f.file_name, testid: "file-download", "data-file": f.file_path }, f.file_name)),
      h("td", {}, f.file_type), h("td", {}, `${f.file_size} bytes`), h("td", {}, when(f.modified_at))))));
}

function backupsSection(backups, id) {
  if (backups.error) return h("p", { class: "error" }, backups.error.message);
  if (!backups.backups.length) return h("p", { class: "muted" }, "No file backups.");
  const restore = async (name) => {
    clearMessages();
    if (!(await confirmDialog(`Restore backup ${name}? The current files are backed up first.`))) return;
    try {
      const result = await api(`tasks/${id}/backups/${encodeURIComponent(name)}/restore`, { method: "POST" });
      notice(`Restored ${result.restored_files.length} file(s) from ${name}.`);
      await renderTask(decodeURIComponent(id));
    } catch (e) { showError(e); }
  };
  return h("table", {},
    h("thead", {}, h("tr", {}, ["Backup", "Taken", "Files", "Size", ""].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, backups.backups.map((b) => h("tr", { testid: "backup-row", "data-backup": b.backup_directory },
      h("td", {}, b.backup_directory), h("td", {}, b.backup_time ? when(b.backup_time) : "—"),
      h("td", {}, b.file_count), h("td", {}, b.total_size || `${b.total_bytes} bytes`),
      h("td", {}, me.can_run ? h("button", { type: "button", testid: "restore-backup", "data-backup": b.backup_directory,
        onclick: () => restore(b.backup_directory) }, "Restore") : null)))));
}

function vectorSection(vectors, id) {
  const create = async () => {
    clearMessages();
    try {
      const result = await api(`tasks/${id}/vector-backups`, { method: "POST" });
      notice(`Vector tables backed up as ${result.backup_name}.`);
      await renderTask(decodeURIComponent(id));
    } catch (e) { showError(e); }
  };
  const button = me.can_run
    ? h("button", { type: "button", testid: "vector-backup-create", onclick: create }, "Back up the vector tables now")
    : null;
  if (vectors.error) return h("div", {}, h("p", { class: "error" }, vectors.error.message), button);
  const list = vectors.backups.length
    ? h("ul", {}, vectors.backups.map((b) => h("li", { testid: "vector-backup-row", "data-backup": b.backup_name },
      `${b.backup_name} — ${b.files ? b.files.length : 0} file(s), ${b.bytes ?? 0} bytes${b.complete === false ? " (incomplete)" : ""}`)))
    : h("p", { class: "muted" }, "No vector-table backups.");
  return h("div", {}, list, button);
}

// ---- create form -----------------------------------------------------------------------------------

async function renderCreate() {
  if (!me.can_run) {
    setView(h("p", {}, "You may read tasks but not create them (this needs permission to run the data_pipeline DAG)."),
      h("p", {}, link({}, "All tasks", "back-link")));
    return;
  }
  const { connections } = await api("connections");
  const connection = h("select", { id: "field-connection", testid: "field-connection", required: true },
    h("option", { value: "" }, "choose a database"),
    connections.map((c) => h("option", { value: c.conn_id, disabled: !c.defined },
      c.defined ? c.conn_id : `${c.conn_id} (not defined)`)));
  const filter = h("input", { id: "field-table-filter", type: "search", testid: "field-table-filter",
    placeholder: "filter tables" });
  const tableBox = h("div", { class: "tables", testid: "table-options", role: "group", "aria-label": "tables" });
  const tablesStatus = h("p", { class: "muted", testid: "tables-status" }, "Choose a database to list its tables.");
  const tableFile = h("input", { id: "field-table-file", type: "file", accept: ".txt,text/plain",
    testid: "field-table-file" });
  const name = h("input", { id: "field-task-name", maxlength: 200, testid: "field-task-name" });
  const context = h("textarea", { id: "field-business-context", rows: 3, maxlength: 4000, cols: 60,
    testid: "field-business-context" });
  const options = OPTIONS.map(([key, label, checked]) => h("div", {},
    h("input", { type: "checkbox", id: `option-${key}`, checked, testid: `option-${key}` }),
    h("label", { for: `option-${key}`, class: "inline" }, " " + label)));
  const batch = h("input", { id: "option-batch_size", type: "number", min: 1, max: 1000, value: 50,
    testid: "option-batch_size" });

  const applyFilter = () => {
    const needle = filter.value.trim().toLowerCase();
    for (const row of tableBox.children) row.hidden = needle !== "" && !row.dataset.table.toLowerCase().includes(needle);
  };
  filter.addEventListener("input", applyFilter);
  connection.addEventListener("change", async () => {
    clearMessages();
    tableBox.replaceChildren();
    if (!connection.value) return;
    tablesStatus.textContent = "Loading tables…";
    try {
      const data = await api(`connections/${encodeURIComponent(connection.value)}/tables`);
      tableBox.replaceChildren(...data.tables.map((t, i) => h("div", { "data-table": t },
        h("input", { type: "checkbox", id: `table-${i}`, value: t, testid: "table-checkbox", "data-table": t }),
        h("label", { for: `table-${i}`, class: "inline" }, " " + t))));
      tablesStatus.textContent = `${data.count} table(s)${data.truncated ? `; the first ${data.tables.length} are shown` : ""}.`;
      applyFilter();
    } catch (e) {
      tablesStatus.textContent = "Tables could not be listed.";
      showError(e);
    }
  });

  const submit = async (event) => {
    event.preventDefault();
    clearMessages();
    const chosen = [...tableBox.querySelectorAll("input:checked")].map((c) => c.value);
    const file = tableFile.files[0];
    if (!connection.value) { showError("Choose a database."); return; }
    if (!chosen.length && !file) { showError("Pick at least one table, or upload a table-list file."); return; }
    if (chosen.length && file) { showError("Pick tables or upload a table-list file, not both."); return; }
    const body = { db_conn_id: connection.value, business_context: context.value,
      batch_size: parseInt(batch.value, 10) || 50 };
    if (name.value.trim()) body.task_name = name.value.trim();
    if (chosen.length) body.table_list = chosen;
    for (const [key] of OPTIONS) body[key] = document.getElementById(`option-${key}`).checked;
    try {
      const task = await api("tasks", { method: "POST", json: body });
      if (file) {
        const form = new FormData();
        form.append("file", file, "table_list.txt");
        try {
          await api(`tasks/${encodeURIComponent(task.task_id)}/upload-table-list`, { method: "POST", form });
        } catch (e) {
          window.history.replaceState(null, "", "?" + new URLSearchParams({ task_id: task.task_id }));
          await renderTask(task.task_id);
          showError(`The task was created, but its table list was refused: ${e.message}`);
          return;
        }
      }
      window.location.search = "?" + new URLSearchParams({ task_id: task.task_id }).toString();
    } catch (e) { showError(e); }
  };

  setView(h("p", {}, link({}, "← All tasks", "back-link")), h("h2", {}, "New task"),
    h("form", { testid: "create-form", onsubmit: submit },
      h("label", { for: "field-task-name" }, "Task name (optional)"), name,
      h("label", { for: "field-connection" }, "Business database"), connection,
      h("fieldset", {}, h("legend", {}, "Tables"),
        h("label", { for: "field-table-filter" }, "Filter"), filter, tablesStatus, tableBox,
        h("label", { for: "field-table-file" }, "…or upload a table-list file (one table per line)"), tableFile),
      h("label", { for: "field-business-context" }, "Business context"), context,
      h("fieldset", {}, h("legend", {}, "Options"), options,
        h("label", { for: "option-batch_size" }, "Batch size"), batch),
      h("p", {}, h("button", { type: "submit", class: "primary", testid: "create-submit" }, "Create task"))));
}

// ---- start -----------------------------------------------------------------------------------------

async function main() {
  const params = new URLSearchParams(window.location.search);
  try {
    me = await api("me");
    document.getElementById("whoami").textContent = `${me.user}${me.can_run ? "" : " (read only)"}`;
  } catch (e) {
    showError(e);
    setView(h("p", {}, "The task API did not answer."));
    return;
  }
  try {
    if (params.get("task_id")) await renderTask(params.get("task_id"));
    else if (params.get("dag_run_id")) await renderRun(params.get("dag_id") || "", params.get("dag_run_id"));
    else if (params.get("view") === "create") await renderCreate();
    else await renderList(params);
  } catch (e) {
    showError(e);
    if (document.getElementById("view").textContent.startsWith("Loading")) setView(h("p", {}, link({}, "All tasks", "back-link")));
  }
}

main();
