// SignalOps console: the few things a server-rendered page cannot do.
// Every page works without it, except the live tail and the copy buttons.
(function () {
  'use strict';

  function liveTail() {
    var box = document.getElementById('live-tail');
    if (!box || !window.EventSource) { return; }
    var url = box.getAttribute('data-stream');
    var status = document.getElementById('tail-status');
    var toggle = document.getElementById('tail-toggle');
    var rows = document.getElementById('tail-rows');
    var es = null;
    var seen = 0;
    var maxRows = 100;

    function say(text) { status.textContent = text; }
    function waiting() {
      say(seen === 0 ? 'Live: waiting for new events.' :
        'Live: ' + seen + (seen === 1 ? ' new event' : ' new events') + ' since this page opened.');
    }

    function cell(tr, child) {
      var td = document.createElement('td');
      if (typeof child === 'string') { td.textContent = child; } else { td.appendChild(child); }
      tr.appendChild(td);
    }

    function add(ev) {
      var tr = document.createElement('tr');
      var a = document.createElement('a');
      a.href = '/console/events/' + encodeURIComponent(ev.id);
      a.setAttribute('aria-label', 'Event ' + ev.id);
      var code = document.createElement('code');
      code.textContent = ev.id.slice(0, 8);
      a.appendChild(code);
      cell(tr, a);
      var t = document.createElement('time');
      t.dateTime = ev.receivedAt;
      t.textContent = ev.receivedAt.replace('T', ' ').replace(/\.\d+/, '').replace('Z', ' UTC');
      cell(tr, t);
      cell(tr, ev.type);
      cell(tr, ev.source || '');
      rows.insertBefore(tr, rows.firstChild);
      while (rows.children.length > maxRows) { rows.removeChild(rows.lastChild); }
      seen++;
      waiting();
    }

    function open() {
      es = new EventSource(url);
      es.onopen = waiting;
      es.addEventListener('event', function (m) {
        try { add(JSON.parse(m.data)); } catch (e) { /* a malformed message is skipped */ }
      });
      es.onerror = function () {
        if (es.readyState === EventSource.CLOSED) {
          say('The live tail stopped (your session may have ended). Reload the page to resume.');
        } else {
          say('Reconnecting…');
        }
      };
    }

    function close() { if (es) { es.close(); es = null; } }

    toggle.hidden = false;
    toggle.addEventListener('click', function () {
      var pause = toggle.getAttribute('aria-pressed') !== 'true';
      toggle.setAttribute('aria-pressed', pause ? 'true' : 'false');
      if (pause) { close(); say('Live tail paused.'); } else { open(); }
    });
    say('Connecting…');
    open();
  }

  function copyButtons() {
    var buttons = document.querySelectorAll('button[data-copy]');
    Array.prototype.forEach.call(buttons, function (b) {
      b.addEventListener('click', function () {
        var id = b.getAttribute('data-copy');
        var input = document.getElementById(id);
        var status = document.querySelector('[data-copy-status="' + id + '"]');
        function done(ok) { if (status) { status.textContent = ok ? 'Copied.' : 'Select the text and copy it.'; } }
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () {
            input.select(); done(document.execCommand && document.execCommand('copy'));
          });
        } else {
          input.select();
          done(document.execCommand && document.execCommand('copy'));
        }
      });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    liveTail();
    copyButtons();
  });
}());
