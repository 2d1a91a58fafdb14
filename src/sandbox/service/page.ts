/** The ci-fixer web page: start a run, list runs, stream a run's output (no build step, no CDN). */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ci-fixer</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; display: grid; grid-template-columns: 22rem 1fr; height: 100vh; }
  aside { border-right: 1px solid #ddd; padding: 1rem; overflow: auto; }
  main { padding: 1rem; overflow: auto; }
  textarea, input { width: 100%; box-sizing: border-box; font: 13px monospace; margin-bottom: .5rem; }
  ul { list-style: none; padding: 0; }
  li { padding: .3rem .4rem; cursor: pointer; border-radius: 4px; }
  li:hover, li.selected { background: #eef; }
  .status { font-weight: 600; }
  .succeeded { color: #176b2c; } .failed, .error { color: #b00020; } .running, .queued { color: #8a6d00; }
  pre { background: #111; color: #eee; padding: .8rem; white-space: pre-wrap; min-height: 4rem; }
  .stderr { color: #ff9e9e; } .cmd { color: #8fd3ff; }
  #form-error, #partial { color: #b00020; }
  #partial { white-space: pre-line; }
</style>
</head>
<body>
<aside>
  <h1>ci-fixer</h1>
  <form id="new-run">
    <label>Image <input name="image" placeholder="default image"></label>
    <label>Repository <input name="repo" placeholder="https://github.com/org/repo.git (optional)"></label>
    <label>Commands, one per line <textarea name="commands" rows="5" required></textarea></label>
    <button type="submit">Start run</button>
    <div id="form-error" role="alert"></div>
  </form>
  <h2>Runs</h2>
  <div id="partial" role="status"></div>
  <ul id="runs"></ul>
</aside>
<main>
  <h2 id="run-title">No run selected</h2>
  <div>Status: <span id="run-status" class="status"></span></div>
  <pre id="output" aria-live="polite"></pre>
</main>
<script>
const $ = (id) => document.getElementById(id);
let selected = null;
let source = null;

async function refreshRuns() {
  const res = await fetch('/api/runs');
  const body = await res.json();
  const runs = body.runs;
  // Replicas that did not answer: their runs are missing from the list, and the page says so.
  $('partial').textContent = (body.partial || [])
    .map((p) => 'Not listed: the runs of ' + (p.pod ? 'replica ' + p.replica + ' (' + p.pod + ')' : 'other replicas') + ': ' + p.error)
    .join('\\n');
  const list = $('runs');
  list.replaceChildren(...runs.map((run) => {
    const li = document.createElement('li');
    li.dataset.id = run.id;
    li.className = run.id === selected ? 'selected' : '';
    const status = document.createElement('span');
    status.className = 'status ' + run.status;
    status.textContent = run.status;
    li.append(run.id + ' ', status);
    li.onclick = () => select(run.id);
    return li;
  }));
}

function append(text, cls) {
  const span = document.createElement('span');
  if (cls) span.className = cls;
  span.textContent = text;
  $('output').append(span);
}

function select(id) {
  selected = id;
  source?.close();
  $('run-title').textContent = id;
  $('output').replaceChildren();
  $('run-status').textContent = '';
  source = new EventSource('/api/runs/' + encodeURIComponent(id) + '/events');
  source.onmessage = (msg) => {
    const e = JSON.parse(msg.data);
    if (e.type === 'status') {
      $('run-status').textContent = e.status;
      $('run-status').className = 'status ' + e.status;
      if (e.error) append('error: ' + e.error + '\\n', 'stderr');
    } else if (e.type === 'step-start') append('$ ' + e.command + '\\n', 'cmd');
    else if (e.type === 'output') append(e.text, e.stream === 'stderr' ? 'stderr' : '');
    // A step the sandbox failed under has no exit code: it says it was interrupted, and why.
    else if (e.type === 'step-end' && e.status === 'error') append('[interrupted: ' + e.error + ']\\n', 'stderr');
    else if (e.type === 'step-end' && e.status !== 'skipped') append('[exit ' + e.exitCode + ']\\n', 'cmd');
    else if (e.type === 'end') { source.close(); refreshRuns(); }
  };
  refreshRuns();
}

$('new-run').onsubmit = async (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target);
  const body = { commands: String(form.get('commands')).split('\\n').map((c) => c.trim()).filter(Boolean) };
  for (const key of ['image', 'repo']) if (form.get(key)) body[key] = String(form.get(key)).trim();
  const res = await fetch('/api/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const data = await res.json();
  if (!res.ok) { $('form-error').textContent = data.error; return; }
  $('form-error').textContent = '';
  select(data.id);
};

refreshRuns();
setInterval(refreshRuns, 2000);
</script>
</body>
</html>
`;
