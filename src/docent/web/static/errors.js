// The API's one error shape, {"error": {"code", "message", "details"}}, as a JavaScript error.

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error ? body.error : {};
  const message = error.message || `The server answered ${response.status}.`;
  return new ApiError(response.status, error.code || `http_${response.status}`, message, error.details);
}

/** An error from XMLHttpRequest's text, in the same shape. */
export function errorOfText(status, text) {
  let error = {};
  try {
    error = JSON.parse(text).error || {};
  } catch {
    error = {};
  }
  const message = error.message || (status ? `The server answered ${status}.` : "The connection failed.");
  return new ApiError(status, error.code || `http_${status}`, message, error.details);
}
