// Helpers shared by the example pages. They use the global OT that
// /crossbar/crossbar.js defines; load that script first.

export const params = new URLSearchParams(location.search);
export const room = params.get('room') || 'demo';

// displayName is the name given in the URL (?name=), else a made-up one.
export const displayName = params.get('name') || `Guest ${Math.floor(100 + Math.random() * 900)}`;

// credentials asks the example server for a token to this room with the
// given role, and returns {apiKey, sessionId, token}.
export async function credentials(role) {
  const q = new URLSearchParams({ room, role, name: displayName });
  const res = await fetch(`/token?${q}`);
  if (!res.ok) throw new Error(`token: ${await res.text()}`);
  return res.json();
}

// notice shows a short message at the bottom of the page.
export function notice(text) {
  let box = document.getElementById('notice');
  if (!box) {
    box = document.createElement('div');
    box.id = 'notice';
    box.setAttribute('role', 'status');
    document.body.append(box);
  }
  box.textContent = text;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => (box.hidden = true), 5000);
}

// report shows an OT error, if there is one, and logs it to the console.
export function report(err) {
  if (!err) return;
  console.error(err);
  notice(`${err.message} (${err.name} ${err.code})`);
}

// Widgets fill the tile they are appended to.
const widget = { insertMode: 'append', width: '100%', height: '100%' };

/** Grid is a list of video tiles that reflows as they come and go. */
export class Grid {
  constructor(el) {
    this.el = el;
  }

  tile() {
    const t = document.createElement('div');
    t.className = 'tile';
    this.el.append(t);
    this.el.dataset.count = this.el.children.length;
    return t;
  }

  remove(t) {
    t.remove();
    this.el.dataset.count = this.el.children.length;
  }

  // publish publishes the camera in a new tile, and removes the tile with
  // the publisher.
  publish(session, props) {
    const t = this.tile();
    t.classList.add('self');
    const publisher = OT.initPublisher(t, { ...widget, name: displayName, ...props }, report);
    publisher.on('destroyed', () => this.remove(t));
    session.publish(publisher, report);
    return publisher;
  }

  // subscribe shows a stream in a new tile, removed with the subscriber.
  subscribe(session, stream, props) {
    const t = this.tile();
    const subscriber = session.subscribe(stream, t, { ...widget, ...props }, report);
    subscriber.on({
      destroyed: () => this.remove(t),
      audioBlocked: offerSound,
    });
    return subscriber;
  }
}

// offerSound shows a button that turns on the sound the browser blocked:
// browsers only allow it after the user interacts with the page.
function offerSound() {
  if (document.getElementById('sound')) return;
  const b = document.createElement('button');
  b.id = 'sound';
  b.textContent = '🔊 Turn on sound';
  b.onclick = () => OT.unblockAudio().then(() => b.remove(), report);
  document.body.append(b);
}

// toggle makes a button switch between two states, calling set(on).
export function toggle(button, labels, set) {
  let on = true;
  button.textContent = labels[0];
  button.onclick = () => {
    on = !on;
    set(on);
    button.textContent = labels[on ? 0 : 1];
    button.classList.toggle('off', !on);
    button.setAttribute('aria-pressed', String(!on));
  };
}

// nameOf returns the name a connection gave when it joined.
export function nameOf(connection) {
  return (connection && connection.data) || 'someone';
}
