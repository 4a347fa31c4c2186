// The bucket page's upload zone: files dropped or chosen are sent one after another through the
// REST API in admin mode, as the newest Appwrite Web SDK sends them: one multipart POST for a
// file of up to 5 MiB, else consecutive 5 MiB chunks with Content-Range, the first alone and the
// rest with X-Appwrite-ID (the file's ID). A network error or a 5xx is retried with backoff,
// resuming where the server says the upload stands (GET the file: chunksUploaded).
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
  const CONCURRENCY = 8; // the Web SDK's parallel chunks
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

  function complete(body) {
    return body !== null && typeof body.chunksUploaded === "number" && body.chunksUploaded >= body.chunksTotal;
  }

  // One request of an upload, retried with backoff after a network error or a 5xx. Before each
  // retry the server is asked what it already has: a finished file ends the upload, a chunk it
  // holds (within the first chunksUploaded) is not sent again. Resolves the File JSON.
  async function send(job, chunk) {
    let attempts = 0;
    for (;;) {
      const form = new FormData();
      form.append("fileId", job.fileId);
      form.append("file", job.chunked ? job.file.slice(chunk.start, chunk.end) : job.file, job.file.name);
      const extra = {};
      if (job.chunked) extra["Content-Range"] = "bytes " + chunk.start + "-" + (chunk.end - 1) + "/" + job.file.size;
      if (job.uploadId) extra["X-Appwrite-ID"] = job.uploadId;
      let answer = null;
      try {
        answer = await post(form, extra, (fraction) => job.sent(chunk, fraction));
      } catch (error) {
        answer = null;
      }
      if (answer !== null && answer.status < 500) {
        if (answer.status >= 400 || answer.body === null) {
          throw new Error((answer.body && answer.body.message) || "HTTP " + answer.status);
        }
        job.sent(chunk, 1);
        return answer.body;
      }
      attempts += 1;
      job.sent(chunk, 0);
      if (attempts >= MAX_ATTEMPTS) {
        throw new Error(answer === null ? "network error" : (answer.body && answer.body.message) || "HTTP " + answer.status);
      }
      const wait = Math.min(1000 * 2 ** (attempts - 1), 30000);
      job.say("Connection lost, retrying in " + Math.round(wait / 1000) + " s");
      await sleep(wait);
      const known = await state(job.fileId);
      if (known !== null && (complete(known) || (job.chunked && known.chunksUploaded * chunkSize >= chunk.end))) {
        job.sent(chunk, 1);
        return known;
      }
    }
  }

  // A file's upload as the newest Web SDK does it: up to 5 MiB in one request; else the first
  // chunk alone (its answer names the file), then the others, 8 at a time, with X-Appwrite-ID.
  async function upload(file, view) {
    const size = file.size;
    const chunks = [];
    for (let start = 0; start < size || chunks.length === 0; start += chunkSize) {
      chunks.push({ start, end: Math.min(start + chunkSize, size) });
    }
    const progress = new Map();
    const job = {
      file,
      fileId: uniqueId(),
      uploadId: "",
      chunked: size > chunkSize,
      sent(chunk, fraction) {
        progress.set(chunk.start, Math.floor(fraction * (chunk.end - chunk.start)));
        let total = 0;
        progress.forEach((bytes) => (total += bytes));
        view.bar.value = Math.min(total, size);
        view.status.textContent = "Uploading " + percent(view);
      },
      say(text) {
        view.status.textContent = text;
      },
    };
    const first = await send(job, chunks[0]);
    if (!job.chunked || complete(first)) return first;
    job.uploadId = first.$id;
    let finished = null;
    let next = 1;
    const worker = async () => {
      while (next < chunks.length && finished === null) {
        const body = await send(job, chunks[next++]);
        if (complete(body)) finished = body;
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, chunks.length - 1) }, worker));
    if (finished !== null) return finished;
    const known = await state(job.fileId);
    if (complete(known)) return known;
    throw new Error("the server did not complete the file");
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
