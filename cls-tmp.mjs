import sharp from 'sharp'
import * as ort from 'onnxruntime-node'
const s = await ort.InferenceSession.create('../shared/models/mobilenetv2-12-int8/model.onnx')
const f='../shared/images/dog.jpg'
const {data, info} = await sharp(f).removeAlpha().resize({width:256,height:256,fit:'outside'}).raw().toBuffer({resolveWithObject:true})
async function run(label, fn){
  const x=new Float32Array(3*224*224); fn(x)
  const out=(await s.run({input:new ort.Tensor('float32',x,[1,3,224,224])})).output.data
  let m=-1e9;for(const v of out)m=Math.max(m,v);let sum=0;for(const v of out)sum+=Math.exp(v-m)
  const idx=[...out.keys()].sort((a,b)=>out[b]-out[a]).slice(0,5)
  console.log(label, idx.map(i=>[i,out[i].toFixed(3),(Math.exp(out[i]-m)/sum).toFixed(4)]).join(' '))
}
const w=info.width,h=info.height
const mean=[0.485,0.456,0.406],std=[0.229,0.224,0.225]
for (const [l,t,name] of [[Math.floor((w-224)/2),Math.floor((h-224)/2),'floor'],[Math.round((w-224)/2),Math.round((h-224)/2),'round'],[Math.ceil((w-224)/2),Math.ceil((h-224)/2),'ceil']])
await run(name, x=>{for(let c=0;c<3;c++)for(let y=0;y<224;y++)for(let xx=0;xx<224;xx++)x[c*224*224+y*224+xx]=(data[((t+y)*w+l+xx)*3+c]/255-mean[c])/std[c]})
