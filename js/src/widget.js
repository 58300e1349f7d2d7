// @ts-check
// The default UI of publishers and subscribers.

const STYLE = `
.OT_root{position:relative;display:inline-block;overflow:hidden;background:#1f2126;vertical-align:top;box-sizing:border-box;color:#fff}
.OT_root .OT_widget-container{position:absolute;inset:0}
.OT_root .OT_video-element{width:100%;height:100%;object-fit:cover;display:block}
.OT_root.OT_fit-mode-contain .OT_video-element{object-fit:contain}
.OT_root.OT_mirrored .OT_video-element{transform:scaleX(-1)}
.OT_root .OT_name{position:absolute;left:0;right:0;bottom:0;padding:6px 10px;background:linear-gradient(transparent,rgba(0,0,0,.55));font:13px/1.3 system-ui,sans-serif;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.OT_root .OT_name:empty,.OT_root.OT_hide-name .OT_name{display:none}
.OT_root.OT_audio-only .OT_video-element{visibility:hidden}
.OT_root.OT_audio-only .OT_widget-container::before{content:"";position:absolute;left:50%;top:50%;width:30%;aspect-ratio:1;transform:translate(-50%,-60%);border-radius:50%;background:#3b3f47}
.OT_root.OT_loading .OT_widget-container::after{content:"";position:absolute;left:50%;top:50%;width:28px;height:28px;margin:-14px;border:3px solid rgba(255,255,255,.25);border-top-color:#fff;border-radius:50%;animation:OT_spin 1s linear infinite}
.OT_root.OT_audio-blocked .OT_name::after{content:" \\1F507"}
@keyframes OT_spin{to{transform:rotate(360deg)}}
`;

let styled = false;
function addStyle() {
  if (styled) return;
  styled = true;
  const el = document.createElement('style');
  el.textContent = STYLE;
  document.head.prepend(el); // first, so that the page's rules win
}

function cssSize(v, def) {
  if (v == null) return def;
  return typeof v === 'number' ? `${v}px` : String(v);
}

let nextWidget = 0;

/**
 * Widget is the default UI of a Publisher or Subscriber: an element of
 * class OT_publisher or OT_subscriber (OT_loading until media plays)
 * holding .OT_widget-container > video.OT_video-element and a name label.
 */
export class Widget {
  constructor(kind, target, props, name) {
    this.video = document.createElement('video');
    this.video.className = 'OT_video-element';
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true;
    this.id = `OT_${kind}_${++nextWidget}`;
    if (props.insertDefaultUI === false) return;
    addStyle();
    const el = document.createElement('div');
    el.className = `OT_root OT_${kind} OT_loading OT_fit-mode-${props.fitMode || 'cover'}`;
    el.style.width = cssSize(props.width, '264px');
    el.style.height = cssSize(props.height, '198px');
    const container = document.createElement('div');
    container.className = 'OT_widget-container';
    container.append(this.video);
    this.label = document.createElement('div');
    this.label.className = 'OT_name';
    this.label.textContent = name || '';
    if (props.style && props.style.nameDisplayMode === 'off') el.classList.add('OT_hide-name');
    el.append(container, this.label);
    this.element = el;
    this.#insert(target, props.insertMode || 'replace');
    el.id = el.id || this.id;
  }

  #insert(target, mode) {
    const t = typeof target === 'string' ? document.getElementById(target) : target;
    if (!t) {
      document.body.append(this.element);
      return;
    }
    switch (mode) {
      case 'after':
        t.after(this.element);
        break;
      case 'before':
        t.before(this.element);
        break;
      case 'append':
        t.append(this.element);
        break;
      default:
        this.element.id = t.id;
        t.replaceWith(this.element);
    }
  }

  toggle(cls, on) {
    if (this.element) this.element.classList.toggle(cls, on);
  }

  setName(name) {
    if (this.label) this.label.textContent = name || '';
  }

  remove() {
    this.video.srcObject = null;
    if (this.element) this.element.remove();
  }
}

// imageOf returns the video's current frame as a base64 PNG, or null
// before the first frame.
export function imageOf(video) {
  if (!video.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = video.videoWidth;
  c.height = video.videoHeight;
  c.getContext('2d').drawImage(video, 0, 0);
  return c.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
}
