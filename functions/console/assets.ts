import { createHash } from 'node:crypto';

/**
 * The console's one stylesheet and one script. Served from the console's own routes (in the
 * Lambda bundle on AWS, no separate asset bucket), cached for a year under a content hash.
 */

const CSS = `
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2430;--muted:#5d6675;--line:#e3e6eb;--accent:#3353c8;
--ok:#1b7f4b;--okbg:#e4f4ea;--bad:#b3261e;--badbg:#fbe9e7;--run:#8a5a00;--runbg:#fff3d6;--idle:#4f5b6b;--idlebg:#eef0f3;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:var(--bg)}
*{box-sizing:border-box}body{margin:0;line-height:1.45}
header.top{background:#1f2a44;color:#fff;padding:.7rem 1.5rem;display:flex;align-items:center;gap:1rem}
header.top a{color:#fff;text-decoration:none;font-weight:600}header.top .who{margin-left:auto;opacity:.85;font-size:.9rem}
header.top form{margin:0}
main{max-width:72rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:1rem 1.2rem;margin-bottom:1rem}
.crumbs{font-size:.9rem;color:var(--muted)}.crumbs a{color:var(--accent)}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:10px;overflow:hidden}
#releases,#builds{margin-bottom:1.6rem}
caption{text-align:left;font-weight:600;font-size:1.05rem;padding:.2rem 0 .5rem}
th,td{text-align:left;padding:.55rem .8rem;border-bottom:1px solid var(--line);font-size:.93rem;vertical-align:middle}
th{background:#fafbfc;color:var(--muted);font-weight:600;font-size:.82rem;text-transform:uppercase;letter-spacing:.03em}
tr:last-child td{border-bottom:0}td a{color:var(--accent);font-weight:600}
code,.sha{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.88em}
.muted{color:var(--muted)}.empty{color:var(--muted);padding:1rem}
.status{display:inline-block;padding:.1rem .55rem;border-radius:999px;font-size:.8rem;font-weight:600;background:var(--idlebg);color:var(--idle)}
.s-live,.s-succeeded{background:var(--okbg);color:var(--ok)}
.s-failed,.s-rolled_back,.s-canceled{background:var(--badbg);color:var(--bad)}
.s-running,.s-queued,.s-pending,.s-deploying,.s-awaiting_approval{background:var(--runbg);color:var(--run)}
button,.button{font:inherit;font-size:.9rem;border-radius:7px;border:1px solid var(--line);background:#fff;color:var(--ink);padding:.35rem .8rem;cursor:pointer;text-decoration:none;display:inline-block;white-space:nowrap}
button.primary,.button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button:focus-visible,a:focus-visible,input:focus-visible{outline:3px solid #9db0f0;outline-offset:1px}
.row{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}.grow{flex:1}
.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(12rem,1fr));gap:.8rem;margin-bottom:.8rem}
.figure{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:.8rem 1rem}
.figure .label{color:var(--muted);font-size:.82rem}.figure .value{font-size:1.4rem;font-weight:650}
.chart{margin:0 0 1rem}.sw-deploy{background:#3353c8}.sw-fail{background:#c5483f}
.chart svg{width:100%;height:auto;display:block}.legend{font-size:.82rem;color:var(--muted)}
.legend i{display:inline-block;width:.7rem;height:.7rem;border-radius:2px;margin:0 .3rem 0 .8rem;vertical-align:-1px}
dialog{border:1px solid var(--line);border-radius:12px;padding:1.2rem 1.4rem;max-width:28rem;box-shadow:0 10px 40px rgba(0,0,0,.18)}
dialog::backdrop{background:rgba(20,26,40,.35)}dialog h2{margin-top:0}
dialog .actions{display:flex;gap:.6rem;justify-content:flex-end;margin-top:1rem}
label{display:block;font-weight:600;font-size:.9rem;margin-bottom:.3rem}
input[type=text]{font:inherit;width:100%;padding:.45rem .6rem;border:1px solid #c9ced6;border-radius:7px}
pre.log{background:#11151c;color:#dfe6ee;padding:1rem;border-radius:10px;overflow:auto;max-height:70vh;font-size:.82rem;line-height:1.5;white-space:pre-wrap;word-break:break-word;margin:0}
.notice{padding:.7rem 1rem;border-radius:8px;margin-bottom:1rem;background:var(--runbg);color:var(--run)}
.notice.error{background:var(--badbg);color:var(--bad)}.notice.ok{background:var(--okbg);color:var(--ok)}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.center{max-width:30rem;margin:4rem auto;text-align:center}
.center .button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem}
`;

const JS = `
(()=>{
const d=document;
d.addEventListener('click',e=>{
  const open=e.target.closest('[data-open]');
  if(open){const dlg=d.getElementById(open.dataset.open);if(!dlg)return;
    const f=dlg.querySelector('form');
    if(open.dataset.action&&f)f.action=open.dataset.action;
    const t=dlg.querySelector('[data-fill]');if(t&&open.dataset.label)t.textContent=open.dataset.label;
    dlg.showModal();return;}
  const close=e.target.closest('[data-close]');
  if(close){close.closest('dialog').close();}
});
const live=()=>d.body.dataset.poll;
async function refresh(){
  if(d.hidden)return;
  try{
    const r=await fetch(location.href,{headers:{'x-slipway-poll':'1'},credentials:'same-origin'});
    if(!r.ok)return;
    const doc=new DOMParser().parseFromString(await r.text(),'text/html');
    for(const el of d.querySelectorAll('[data-region]')){
      const next=doc.getElementById(el.id);
      if(next&&next.innerHTML!==el.innerHTML)el.innerHTML=next.innerHTML;
    }
  }catch{}
}
if(live()==='page')setInterval(refresh,3000);
const log=d.getElementById('log');
if(log){
  let cursor=log.dataset.cursor||'',done=log.dataset.done==='true';
  const status=d.getElementById('build-status');
  async function tail(){
    if(done)return;
    try{
      const r=await fetch(log.dataset.src+'?cursor='+encodeURIComponent(cursor),{credentials:'same-origin'});
      if(r.ok){const p=await r.json();
        if(p.lines.length){const atEnd=log.scrollTop+log.clientHeight>=log.scrollHeight-8;
          log.append(p.lines.join('\\n')+'\\n');if(atEnd)log.scrollTop=log.scrollHeight;}
        cursor=p.cursor;done=p.done;
        if(status&&p.status){status.textContent=p.status;status.className='status s-'+p.status;}
      }
    }catch{}
    if(!done)setTimeout(tail,1500);
  }
  tail();
}
})();
`;

function hashed(content: string): { content: string; hash: string } {
  return { content, hash: createHash('sha256').update(content).digest('hex').slice(0, 12) };
}

export const STYLESHEET = hashed(CSS.trim());
export const SCRIPT = hashed(JS.trim());
