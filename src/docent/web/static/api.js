// Talking to the JSON API with the session cookies: the CSRF header on every change, a refresh on 401
// and one retry, and the sign-in dialog when the session is gone (the page and its inputs stay).

import { ApiError, errorOf, errorOfText } from "./errors.js";
import { signInDialog } from "./signin.js";

const CSRF_COOKIES = ["__Host-docent_csrf", "docent_csrf"];
const EXPIRED = new Set(["not_authenticated", "invalid_token", "token_expired", "token_revoked"]);
let currentEmail = "";

export function rememberUser(user) {
  currentEmail = user ? user.email : "";
}

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (CSRF_COOKIES.includes(name)) return decodeURIComponent(rest.join("="));
  }
  return "";
}

async function rotate() {
  const response = await fetch("/api/v1/auth/session/refresh", {
    method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() },
  });
  return response.ok;
}

let refreshing = null;

/** Rotate the refresh cookie, once at a time. Tabs take turns through a Web Lock: a refresh token used
 * twice looks stolen, and the server then ends the whole session. */
export function refreshSession() {
  refreshing ||= (async () => {
    try {
      if (!navigator.locks) return await rotate();
      return await navigator.locks.request("docent-session-refresh", async () => {
        // Another tab may have refreshed while this one waited: then the access cookie works already.
        const me = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
        return me.ok || rotate();
      });
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Make sure a session exists again: refresh, or ask the person to sign in (resolves when they have). */
export async function ensureSession() {
  if (await refreshSession()) return;
  await signInDialog(currentEmail);
}

function isExpiry(status, code) {
  return status === 401 && EXPIRED.has(code);
}

/** fetch with the session: throws ApiError for any answer that is not 2xx. */
export async function request(method, url, { json, body, signal, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  const init = { method, credentials: "same-origin", headers, signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  for (let attempt = 0; ; attempt += 1) {
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken();
    const response = await fetch(url, init);
    if (response.ok) return response;
    const error = await errorOf(response);
    if (attempt === 0 && isExpiry(response.status, error.code)) {
      await ensureSession();
      continue;
    }
    throw error;
  }
}

export async function getJSON(url, options) {
  return (await request("GET", url, options)).json();
}

export async function sendJSON(method, url, json) {
  const response = await request(method, url, { json });
  return response.status === 204 ? null : response.json();
}

function xhrOnce(method, url, formData, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText }));
    xhr.addEventListener("error", () => resolve({ status: 0, text: "" }));
    xhr.addEventListener("abort", () => resolve({ status: 0, text: "" }));
    xhr.send(formData);
  });
}

/** A multipart upload with progress (XMLHttpRequest: fetch cannot report upload progress). */
export async function upload(method, url, formData, onProgress) {
  for (let attempt = 0; ; attempt += 1) {
    const { status, text } = await xhrOnce(method, url, formData, onProgress);
    if (status >= 200 && status < 300) return JSON.parse(text);
    const error = errorOfText(status, text);
    if (attempt === 0 && isExpiry(status, error.code)) {
      await ensureSession();
      continue;
    }
    throw error;
  }
}

export { ApiError };
