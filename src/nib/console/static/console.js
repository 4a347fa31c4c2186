// The console's small behaviours, all optional: every page works without them.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf"]')?.content || "";

  // A select that navigates as soon as it changes (the project switcher).
  document.querySelectorAll("select[data-autosubmit]").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // Forms that ask before they act; "{count}" becomes the number of rows selected.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      const count = form.querySelectorAll('input[type="checkbox"][name="ids"]:checked').length ||
        document.querySelectorAll('input[type="checkbox"][form="' + form.id + '"]:checked').length;
      const text = form.dataset.confirm.replace("{count}", String(count));
      if (!window.confirm(text)) event.preventDefault();
    });
  });

  // "Select all" checkboxes: data-select-all names the checkboxes' form attribute.
  document.querySelectorAll("input[data-select-all]").forEach((all) => {
    all.addEventListener("change", () => {
      document.querySelectorAll('input[type="checkbox"][form="' + all.dataset.selectAll + '"]').forEach((box) => {
        box.checked = all.checked;
      });
    });
  });

  // Copy buttons: data-copy names the element whose text is copied.
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const text = source.value !== undefined ? source.value : source.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
        button.textContent = "Copied";
      } catch (error) {
        const range = document.createRange();
        range.selectNodeContents(source);
        window.getSelection().removeAllRanges();
        window.getSelection().addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  });

  // JSON editors: invalid JSON is flagged as it is typed and cannot be submitted.
  document.querySelectorAll("textarea[data-json]").forEach((area) => {
    const message = document.getElementById(area.id + "-error");
    const check = () => {
      let error = "";
      try {
        const value = JSON.parse(area.value || "{}");
        if (value === null || typeof value !== "object" || Array.isArray(value)) error = "Must be a JSON object.";
      } catch (e) {
        error = "Invalid JSON: " + e.message;
      }
      area.setAttribute("aria-invalid", error ? "true" : "false");
      area.setCustomValidity(error);
      if (message) message.textContent = error;
    };
    area.addEventListener("input", check);
    check();
  });

  window.nibConsole = { csrf };
})();
