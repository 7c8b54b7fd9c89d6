import { defineBackground } from 'wxt/utils/define-background';

// The real background (badge, alarms, notifications) arrives with the extension issue.
export default defineBackground(() => {});
