import hdfsModule from '@sluice/storage-hdfs';
const MiB = 1024*1024;
async function* source() { const c = Buffer.alloc(MiB, 0x5a); for (let i=0;i<256;i++) yield c; }
const { spawn } = await import('node:child_process');
const child = spawn(process.execPath, ['../test/webhdfs-server/dist/main.js'], { stdio: ['ignore','pipe','inherit'] });
const urls = await new Promise((r)=>{let b='';child.stdout.on('data',d=>{b+=d;const i=b.indexOf('\n');if(i>=0)r(JSON.parse(b.slice(0,i)));});});
const noop=()=>{};
const s = await hdfsModule.create(hdfsModule.optionsSchema.safeParse({ url: urls.namenode, root: '/b' }).data, { logger:{debug:noop,info:noop,warn:noop,error:noop}, now: Date.now });
const c = s.client;
for (const m of ['create','rename','status','delete','readAll','list','open']) {
  const f = c[m].bind(c);
  c[m] = async (...a) => { const t=performance.now(); try { return await f(...a); } finally { console.log('  ', m, a[0].slice(-30), (performance.now()-t).toFixed(0)); } };
}
const app = await s.createAppStorage('a','a1',{owner:'x'});
for (let i=0;i<3;i++){ const t=performance.now(); await app.jars.put('j'+i, source()); console.log('put', (performance.now()-t).toFixed(0)); }
await s.close(); child.kill('SIGTERM');
