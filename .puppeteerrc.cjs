// whatsapp-web.js drives Debian's /usr/bin/chromium; puppeteer must never download a browser
// (and `npm ci` must work on a machine without internet access beyond the npm registry).
module.exports = { skipDownload: true };
