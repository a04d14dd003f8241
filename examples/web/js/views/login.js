// The first screen: log in, or create an account and log in.

import { h } from "../dom.js";

/** The login card; `onSubmit(username, password, register)` returns a promise. */
export function loginView(onSubmit, notice) {
  let mode = "login";
  const error = h("p.form-error", { role: "alert", id: "login-error" }, notice ?? "");
  if (notice) error.classList.add("info");
  const username = h("input#login-user", {
    name: "username", autocomplete: "username", required: true, minLength: 3, maxLength: 32,
    pattern: "[A-Za-z0-9_.\\-]{3,32}", spellcheck: false, autocapitalize: "off", autofocus: true,
  });
  const password = h("input#login-password", {
    name: "password", type: "password", autocomplete: "current-password", required: true, minLength: 8,
  });
  const submit = h("button.primary.wide#login-submit", { type: "submit" }, "Log in");
  const toggle = h("button.link#login-toggle", { type: "button", onclick: () => setMode(mode === "login" ? "register" : "login") });
  const hint = h("p.hint", {});

  function setMode(next) {
    mode = next;
    submit.textContent = mode === "login" ? "Log in" : "Create account";
    toggle.textContent = mode === "login" ? "New here? Create an account" : "Have an account? Log in";
    password.autocomplete = mode === "login" ? "current-password" : "new-password";
    hint.textContent = mode === "login" ? "" : "3–32 letters, digits, “_”, “-” or “.”; a password of at least 8 characters.";
    error.textContent = "";
  }
  setMode("login");

  const form = h(
    "form.card.login",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        submit.disabled = true;
        error.textContent = "";
        error.classList.remove("info");
        submit.textContent = mode === "login" ? "Logging in…" : "Creating account…";
        try {
          await onSubmit(username.value.trim(), password.value, mode === "register");
        } catch (err) {
          error.textContent = err.message;
          setMode(mode);
          error.textContent = err.message;
          password.select();
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("div.brand", {}, h("img.logo", { src: "favicon.svg", alt: "", width: 40, height: 40 }), h("h1", {}, "chatcore")),
    h("p.tagline", {}, "Chat with friends and rooms, on every device."),
    h("label", { for: "login-user" }, "Username"),
    username,
    h("label", { for: "login-password" }, "Password"),
    password,
    hint,
    error,
    submit,
    toggle,
  );
  return h("main.login-screen", {}, form);
}
