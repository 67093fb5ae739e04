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

import { api, h, link, session, setView, showError, statusBadge, when } from "./lib.js";
import { renderCreate } from "./create.js";
import { renderTask } from "./task.js";

const PAGE_SIZE = 20;
const STATUSES = ["pending", "in_progress", "partial_completed", "completed", "failed"];

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
    session.can_run ? h("button", { type: "button", class: "primary", testid: "new-task-button",
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

// ---- start -----------------------------------------------------------------------------------------

async function main() {
  const params = new URLSearchParams(window.location.search);
  try {
    Object.assign(session, await api("me"));
    document.getElementById("whoami").textContent = `${session.user}${session.can_run ? "" : " (read only)"}`;
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

