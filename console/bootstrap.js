// Loads the console's WebAssembly module. Kept out of index.html because the server's
// Content-Security-Policy allows only same-origin scripts (no inline ones).
import init from '/console/portcullis_console.js';

try {
  // init() fetches and instantiates /console/portcullis_console_bg.wasm (it should be served as
  // application/wasm), then runs the crate's #[wasm_bindgen(start)] function, which mounts the app.
  await init();
  document.getElementById('loading')?.remove();
} catch (err) {
  document.getElementById('loading')?.remove();
  const message = document.createElement('p');
  message.className = 'error';
  message.setAttribute('role', 'alert');
  message.setAttribute('data-testid', 'load-error');
  message.textContent = `The console failed to start: ${err}`;
  document.body.append(message);
  throw err;
}
