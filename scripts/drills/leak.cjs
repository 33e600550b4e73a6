// The soak's fault (npm run soak -- --fault leak): preloaded into the service with --require, it keeps 2 KiB per
// HTTP request for ever, the way a cache without a bound or a listener added per request does. The soak's
// verdict must fail on it; nothing else loads this file.
'use strict';
const { Buffer } = require('node:buffer');
const http = require('node:http');

const kept = [];
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === 'request') kept.push(Buffer.alloc(2048, 1));
  return emit.call(this, event, ...args);
};
