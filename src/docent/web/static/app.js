// The shell of every page: who is signed in, the navigation, "Sign out", then the page's own module.

import { ApiError, csrfToken, getJSON, refreshSession, rememberUser, request } from "./api.js";
import { h } from "./dom.js";
import { signInForm } from "./signin.js";

const PAGES = {
  chat: () => import("./chat.js"),
  documents: () => import("./documents.js"),
  document: () => import("./document.js"),
  admin: () => import("./admin.js"),
  account: () => import("./account.js"),
};

function safeNext() {
  const next = new URLSearchParams(window.location.search).get("next") || "/";
  // Only a path of this site: never "//other.host" or "https://…".
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

function showLogin(main) {
  // Why a single sign-on came back here, as the server wrote it (never text from the address).
  const notice = main.querySelector(".page-message")?.textContent || "";
  const { form, emailInput } = signInForm({
    notice,
    onSignedIn: () => { window.location.assign(safeNext()); },
  });
  main.replaceChildren(h("div", { class: "sign-in card" }, form));
  emailInput.focus();
}

function navLink(href, label, page) {
  const current = document.body.dataset.page;
  const active = current === page || (page === "documents" && current === "document");
  return h("li", {}, h("a", { href, "aria-current": active ? "page" : null, text: label }));
}

function topbar(user) {
  const bar = document.getElementById("topbar");
  const links = [navLink("/", "Chat", "chat"), navLink("/documents", "Documents", "documents")];
  if (user.role === "admin") links.push(navLink("/admin", "Admin", "admin"));
  links.push(navLink("/account", "Account", "account"));
  const signOut = h("button", { type: "button", id: "sign-out", text: "Sign out" });
  signOut.addEventListener("click", async () => {
    signOut.disabled = true;
    try {
      await request("DELETE", "/api/v1/auth/session");
    } catch (error) {
      // The session may already be over; the sign-in page is where this ends either way.
      if (!(error instanceof ApiError)) throw error;
    }
    window.location.assign("/login");
  });
  bar.append(
    h("nav", { "aria-label": "Main" }, h("ul", {}, links)),
    h("span", { class: "who", text: user.email }),
    signOut,
  );
}

async function currentUser() {
  try {
    return await getJSON("/api/v1/auth/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

async function start() {
  document.body.append(h("div", { id: "announcer", class: "visually-hidden", "aria-live": "polite" }));
  const main = document.getElementById("main");
  const page = document.body.dataset.page;
  if (page === "login") {
    showLogin(main);
    return;
  }
  if (page === "forbidden" || page === "missing") return;
  // Not signed in, and no session to refresh: the sign-in page, then back here.
  // The CSRF cookie lives as long as the session: without it, there is nothing to ask the server.
  const probe = csrfToken() ? await fetch("/api/v1/auth/me", { credentials: "same-origin" }) : null;
  const user = probe && (probe.ok ? await probe.json() : (await refreshSession()) && await currentUser());
  if (!user) {
    const here = window.location.pathname + window.location.search;
    window.location.replace(`/login?next=${encodeURIComponent(here)}`);
    return;
  }
  rememberUser(user);
  topbar(user);
  const load = PAGES[page];
  if (!load) return;
  const module = await load();
  await module.render(main, user);
}

start().catch((error) => {
  const main = document.getElementById("main");
  main.replaceChildren(h("p", { class: "error-text", role: "alert", text: `Something went wrong: ${error.message}` }));
});
