/* The form that creates a task: a database from the allow-list, its tables or a table-list file, options. */

import { api, clearMessages, h, link, session, setView, showError } from "./lib.js";
import { renderTask } from "./task.js";

const OPTIONS = [
  ["enable_sql_validation", "Validate generated SQL", true],
  ["enable_llm_repair", "Let the LLM repair invalid SQL", true],
  ["modify_original_file", "Rewrite the pair file with repairs", true],
  ["enable_training_data_load", "Load the training data into the vector store", true],
  ["backup_vector_tables", "Back up the vector tables first", false],
  ["truncate_vector_tables", "Empty the vector tables before loading", false],
];


// ---- create form -----------------------------------------------------------------------------------

export async function renderCreate() {
  if (!session.can_run) {
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

