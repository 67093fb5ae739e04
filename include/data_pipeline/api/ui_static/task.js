/* The task view: status, steps, live progress and log, files, backups, and the actions on the task. */

import { API, api, clearMessages, confirmDialog, duration, h, link, notice, session, setView, showError, statusBadge,
  when } from "./lib.js";

const POLL_MS = 2000;
const STEPS = ["ddl_generation", "qa_generation", "sql_validation", "training_load"];
let pollTimer = null;
let sideData = null;  // the last files and backups of the task shown, reused while polling

export function stopPolling() {
  if (pollTimer !== null) { clearTimeout(pollTimer); pollTimer = null; }
}

// ---- task view -------------------------------------------------------------------------------------

export async function renderTask(taskId, polling = false) {
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

  const actions = session.can_run ? taskActions(task, id, stepNames, running) : null;

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
      h("td", {}, session.can_run ? h("button", { type: "button", testid: "restore-backup", "data-backup": b.backup_directory,
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
  const button = session.can_run
    ? h("button", { type: "button", testid: "vector-backup-create", onclick: create }, "Back up the vector tables now")
    : null;
  if (vectors.error) return h("div", {}, h("p", { class: "error" }, vectors.error.message), button);
  const list = vectors.backups.length
    ? h("ul", {}, vectors.backups.map((b) => h("li", { testid: "vector-backup-row", "data-backup": b.backup_name },
      `${b.backup_name} — ${b.files ? b.files.length : 0} file(s), ${b.bytes ?? 0} bytes${b.complete === false ? " (incomplete)" : ""}`)))
    : h("p", { class: "muted" }, "No vector-table backups.");
  return h("div", {}, list, button);
}

