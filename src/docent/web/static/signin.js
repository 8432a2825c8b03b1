// Signing in: the login page's form, and the same form in a dialog when a session ends mid-work.

import { field, h, uid } from "./dom.js";
import { ApiError, errorOf } from "./errors.js";

export async function signIn(email, password, organization) {
  const response = await fetch("/api/v1/auth/session", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ email, password, organization: organization || null }),
  });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()).user;
}

/** The sign-in form; `onSignedIn(user)` runs after a successful sign-in. */
export function signInForm({
  heading = "Sign in to Docent", email = "", notice = "", onSignedIn, headingLevel = "h1",
}) {
  const emailInput = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  emailInput.value = email;
  const passwordInput = h("input", {
    type: "password", name: "password", autocomplete: "current-password", required: true,
  });
  const orgSelect = h("select", { name: "organization" });
  const orgField = field("Organisation", orgSelect, "This email is in several organisations.");
  orgField.field.hidden = true;
  const error = h("p", { class: "form-error", role: "alert", id: uid("err"), text: notice });
  const submit = h("button", { type: "submit", class: "primary", text: "Sign in" });
  const headingEl = h(headingLevel, { id: uid("signin"), text: heading });
  const form = h("form", { class: "sign-in-form", "aria-labelledby": headingEl.id, novalidate: true },
    headingEl,
    field("Email", emailInput).field,
    field("Password", passwordInput).field,
    orgField.field,
    error,
    submit);

  offerSingleSignOn(form, [emailInput, passwordInput, submit]);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!emailInput.value.trim() || !passwordInput.value) {
      error.textContent = "Enter your email and password.";
      (emailInput.value.trim() ? passwordInput : emailInput).focus();
      return;
    }
    submit.disabled = true;
    try {
      const organization = orgField.field.hidden ? null : orgSelect.value;
      const user = await signIn(emailInput.value.trim(), passwordInput.value, organization);
      passwordInput.value = "";
      await onSignedIn(user);
    } catch (err) {
      if (err instanceof ApiError && err.code === "organization_required") {
        const slugs = (err.details && err.details.organizations) || [];
        orgSelect.replaceChildren(...slugs.map((slug) => h("option", { value: slug, text: slug })));
        orgField.field.hidden = false;
        error.textContent = "Choose your organisation, then sign in again.";
        orgSelect.focus();
      } else {
        error.textContent = err instanceof ApiError ? err.message : "Docent could not be reached.";
        passwordInput.select();
        passwordInput.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });
  return { form, emailInput, passwordInput };
}

/** "Sign in with SSO" when the server offers it; the password fields go when it allows SSO only. */
async function offerSingleSignOn(form, passwordParts) {
  let info;
  try {
    const response = await fetch("/api/v1/auth/oidc", { credentials: "same-origin" });
    if (!response.ok) return;
    info = await response.json();
  } catch {
    return; // the form still signs in with a password
  }
  if (!info.enabled || !info.login_url) return;
  form.append(h("a", { class: "button sso", href: info.login_url, text: "Sign in with SSO" }));
  if (!info.password_login) {
    for (const part of passwordParts) (part.closest(".field") || part).hidden = true;
  }
}

let pending = null;

/** Ask to sign in again, in place: what the page holds (a question being typed) stays as it is. */
export function signInDialog(email = "") {
  if (pending) return pending;
  pending = new Promise((resolve) => {
    const dialog = h("dialog", { class: "sign-in-dialog" });
    const { form, emailInput, passwordInput } = signInForm({
      heading: "Your session ended: sign in again",
      headingLevel: "h2",
      email,
      onSignedIn: (user) => {
        dialog.close();
        dialog.remove();
        pending = null;
        resolve(user);
      },
    });
    dialog.append(form, h("p", { class: "muted", text: "What you were doing is kept." }));
    // The dialog cannot be dismissed without signing in: the request that needed it waits for it.
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    document.body.append(dialog);
    dialog.showModal();
    (email ? passwordInput : emailInput).focus();
  });
  return pending;
}
