!function(w,d,l,n,h){var s=d.currentScript,A=function(k){return s.getAttribute("data-"+k)},Y=function(k){return A(k)!=null},N=Date.now,L=function(o,e,f){o.addEventListener(e,f,!0)},D=A("domain")||l.hostname,E=A("api")||new URL(s.src).origin+"/api/event",H=Y("hash"),C=!Y("require-consent"),Q=[],q=w.leadsment&&w.leadsment.q||[],P,U,T=0,V=0;
function M(){return d.hidden?0:N()}
function t(e,o){if(!C)return Q.push([e,o]);var b=JSON.stringify({name:e,url:U,domain:D,referrer:d.referrer,props:o.p,engaged_ms:o.e});o.b&&n.sendBeacon&&n.sendBeacon(E,b)||fetch(E,{method:"POST",body:b,keepalive:!0}).catch(M)}
function g(){V&&(T+=N()-V,V=M());T>0&&t("engagement",{e:T,b:1});T=0}
function v(){var p=l.pathname+(H?l.hash:"");if(p!=P){P&&g();P=p;U=H?l.href:l.href.split("#")[0];V=M();t("pageview",{})}}
function c(e){var a=e.target.closest&&e.target.closest("a[href]"),u,o;if(a){u=new URL(a.href);o={p:{url:a.href},b:1};/\.(pdf|xlsx?|docx?|pptx?|csv|zip|dmg|exe|msi|mp[34])$/i.test(u.pathname)?t("File Download",o):/^http/.test(u.protocol)&&u.host!=l.host&&t("Outbound Link: Click",o)}}
function a(e,o){if(e=="consent"){C=1;Q.splice(0).map(function(x){t(x[0],x[1])})}else t(e,{p:o&&(o.props||o)})}
w.leadsment=function(){};if(/^(localhost|127\.|\[::1\])/.test(l.hostname)&&!Y("allow-localhost")||n.webdriver&&!Y("allow-automated"))return;
w.leadsment=a;["pushState","replaceState"].map(function(k){var f=h[k];h[k]=function(){var r=f.apply(this,arguments);v();return r}});L(w,"popstate",v);H&&L(w,"hashchange",v);L(d,"visibilitychange",function(){V?g():V=M()});L(d,"click",c);L(d,"auxclick",c);v();q.map(function(x){a.apply(0,x)})}(window,document,location,navigator,history);
