// The bucket page's upload zone: files dropped or chosen are sent one after another through the
// REST API in admin mode, as the Appwrite Web SDK sends them: one multipart POST for a file of up
// to 5 MiB, else consecutive 5 MiB chunks with Content-Range, and X-Appwrite-ID (the file's ID)
// after the first. A network error or a 5xx is retried with backoff, resuming where the server
// says the upload stands (GET the file: chunksUploaded).
"use strict";
(function () {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("upload-input");
  const list = document.getElementById("uploads");
  if (!zone || !input || !list) return;

  const project = zone.dataset.project;
  const chunkSize = Number(zone.dataset.chunkSize) || 5 * 1024 * 1024;
  const filesUrl = "/v1/storage/buckets/" + encodeURIComponent(zone.dataset.bucket) + "/files";
  const filePage = zone.dataset.files;
  const done = document.getElementById("uploads-done");
  const MAX_ATTEMPTS = 8;
  const queue = [];
  let running = false;

  function csrf() {
    if (window.nibConsole && window.nibConsole.csrf) return window.nibConsole.csrf;
    const meta = document.querySelector('meta[name="csrf"]');
    return meta ? meta.content : "";
  }

  function headers() {
    return { "X-Appwrite-Project": project, "X-Appwrite-Mode": "admin", "X-Nib-Csrf": csrf() };
  }

  // ID.unique() of the SDKs: hex seconds, 5 hex digits of milliseconds, 7 random hex digits.
  function uniqueId() {
    const now = Date.now();
    const random = new Uint8Array(7);
    crypto.getRandomValues(random);
    const padding = Array.from(random, (b) => (b % 16).toString(16)).join("");
    return Math.floor(now / 1000).toString(16) + (now % 1000).toString(16).padStart(5, "0") + padding;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // One POST; resolves {status, body} for any HTTP answer, rejects on a network error.
  // onProgress gets the fraction of the request body sent.
  function post(form, extra, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", filesUrl);
      const all = Object.assign(headers(), extra);
      Object.keys(all).forEach((name) => xhr.setRequestHeader(name, all[name]));
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
      });
      xhr.addEventListener("load", () => {
        let body = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch (error) {
          body = null;
        }
        resolve({ status: xhr.status, body });
      });
      xhr.addEventListener("error", () => reject(new Error("network error")));
      xhr.addEventListener("abort", () => reject(new Error("aborted")));
      xhr.addEventListener("timeout", () => reject(new Error("timeout")));
      xhr.send(form);
    });
  }

  // What the server holds of the file: its File JSON, or null (not there yet, or unreachable).
  async function state(fileId) {
    try {
      const response = await fetch(filesUrl + "/" + encodeURIComponent(fileId), {
        headers: headers(),
        credentials: "same-origin",
      });
      return response.ok ? await response.json() : null;
    } catch (error) {
      return null;
    }
  }

  function row(file) {
    const item = document.createElement("li");
    item.dataset.name = file.name;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = "Waiting";
    const bar = document.createElement("progress");
    bar.max = file.size || 1;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + file.name);
    item.append(name, status, bar);
    list.append(item);
    return { item, name, status, bar };
  }

  function percent(view) {
    return Math.floor((view.bar.value / view.bar.max) * 100) + " %";
  }

  async function upload(file, view) {
    const fileId = uniqueId();
    const size = file.size;
    const chunked = size > chunkSize;
    let start = 0;
    let uploadedId = "";
    let attempts = 0;
    let result = null;
    while (result === null) {
      const end = chunked ? Math.min(start + chunkSize, size) : size;
      const form = new FormData();
      form.append("fileId", fileId);
      form.append("file", chunked ? file.slice(start, end) : file, file.name);
      const extra = {};
      if (chunked) extra["Content-Range"] = "bytes " + start + "-" + (end - 1) + "/" + size;
      if (uploadedId) extra["X-Appwrite-ID"] = uploadedId;
      view.status.textContent = "Uploading " + percent(view);
      let answer = null;
      try {
        answer = await post(form, extra, (fraction) => {
          // The body's fraction sent (multipart framing included) of this request's bytes.
          view.bar.value = Math.min(start + Math.floor(fraction * (end - start)), end);
          view.status.textContent = "Uploading " + percent(view);
        });
      } catch (error) {
        answer = null;
      }
      if (answer !== null && answer.status < 500) {
        if (answer.status >= 400) {
          throw new Error((answer.body && answer.body.message) || "HTTP " + answer.status);
        }
        attempts = 0;
        uploadedId = answer.body.$id;
        view.bar.value = end;
        if (end >= size) result = answer.body;
        start = end;
        continue;
      }
      // Interrupted: wait, then resume from what the server has.
      attempts += 1;
      if (attempts >= MAX_ATTEMPTS) {
        throw new Error(answer === null ? "network error" : (answer.body && answer.body.message) || "HTTP " + answer.status);
      }
      const wait = Math.min(1000 * 2 ** (attempts - 1), 30000);
      view.status.textContent = "Connection lost, retrying in " + Math.round(wait / 1000) + " s";
      await sleep(wait);
      const known = await state(fileId);
      if (known !== null) {
        uploadedId = known.$id;
        if (known.chunksTotal > 0 && known.chunksUploaded >= known.chunksTotal) {
          result = known;
        } else if (chunked) {
          start = Math.min(known.chunksUploaded * chunkSize, size - 1);
          start -= start % chunkSize;
        }
      }
      view.bar.value = result !== null ? size : start;
    }
    return result;
  }

  async function run() {
    if (running) return;
    running = true;
    while (queue.length > 0) {
      const next = queue.shift();
      try {
        const file = await upload(next.file, next.view);
        next.view.bar.value = next.view.bar.max;
        next.view.status.textContent = "Done";
        next.view.item.classList.add("done");
        if (filePage && file && file.$id) {
          const link = document.createElement("a");
          link.href = filePage + encodeURIComponent(file.$id);
          link.textContent = next.file.name;
          next.view.name.replaceChildren(link);
        }
      } catch (error) {
        next.view.status.textContent = "Failed: " + error.message;
        next.view.item.classList.add("failed");
      }
    }
    running = false;
    if (done) done.hidden = false;
  }

  function add(files) {
    Array.from(files).forEach((file) => queue.push({ file, view: row(file) }));
    run();
  }

  input.addEventListener("change", () => {
    add(input.files);
    input.value = "";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) add(event.dataTransfer.files);
  });
})();
