// OAuth 2.0 Form Post Response Mode: the authorization response goes to the app as a form
// POST. The page carries the form; this static script (no inline script: strict CSP) sends it.
document.getElementById('form-post')?.submit();
