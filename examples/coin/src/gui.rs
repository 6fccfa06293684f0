//! The terminal GUI of `coin-tui` and `coin-gui` (ratatui): the height, the
//! balance of one wallet and its recent transactions, redrawn when the node's
//! notifications or the wallet's balance callback say something changed;
//! nothing is polled. It sees the node only as a [`Node`], local or remote.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};

use crate::node::Shutdown;
use interfaces::primitives::{Address, Block, Hash256, Transaction};
use interfaces::{ChainNotifications, Node, Wallet, WalletError, WalletLoader, WalletTx};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block as Frame, Borders, List, ListItem, Paragraph};

/// The wallet the GUI shows when none is loaded: created on first start.
pub const DEFAULT_WALLET: &str = "default";

/// What wakes the GUI.
enum Event {
    /// The chain or the mempool changed.
    Chain,
    /// The wallet's balance may have changed.
    Balance,
    /// A key was pressed.
    Key(KeyCode),
    /// The terminal was resized or needs a redraw.
    Redraw,
    /// The process was asked to stop (a signal).
    Quit,
}

/// Forwards the node's notifications to the GUI's thread.
struct Listener(Sender<Event>);

impl ChainNotifications for Listener {
    fn block_connected(&self, _block: &Block) -> Result<(), multiprocess::Error> {
        let _ = self.0.send(Event::Chain);
        Ok(())
    }
    fn block_disconnected(&self, _block: &Block) -> Result<(), multiprocess::Error> {
        let _ = self.0.send(Event::Chain);
        Ok(())
    }
    fn transaction_added_to_mempool(&self, _tx: &Transaction) -> Result<(), multiprocess::Error> {
        let _ = self.0.send(Event::Chain);
        Ok(())
    }
    fn transaction_removed_from_mempool(&self, _txid: Hash256) -> Result<(), multiprocess::Error> {
        Ok(())
    }
}

/// What the screen shows.
struct View {
    wallet_name: String,
    height: u32,
    balance: u64,
    transactions: Vec<WalletTx>,
    address: Option<Address>,
    status: String,
    prompt: Option<Prompt>,
}

/// Asking for a send's address, then its amount.
enum Prompt {
    Address(String),
    Amount(Address, String),
}

/// The wallet to show: `default` if loaded, else the first loaded one, else
/// `default`, loaded or created.
fn open_wallet(loader: &dyn WalletLoader) -> Result<Box<dyn Wallet>, WalletError> {
    let loaded = loader.list_wallets()?;
    if let Some(name) = loaded.iter().find(|name| *name == DEFAULT_WALLET).or(loaded.first()) {
        return loader.get_wallet(name.clone());
    }
    match loader.load_wallet(DEFAULT_WALLET.into()) {
        Err(WalletError::NotFound(_)) => loader.create_wallet(DEFAULT_WALLET.into()),
        other => other,
    }
}

/// Runs the GUI on `node` until `q`, or until `stop` is requested.
pub fn run(node: &dyn Node, stop: Option<Arc<Shutdown>>) -> Result<(), String> {
    let loader = node.wallet_loader().map_err(|error| error.to_string())?;
    let wallet = open_wallet(&*loader).map_err(|error| error.to_string())?;
    let (events, inbox) = mpsc::channel();
    let listener = Arc::new(Listener(events.clone()));
    let _chain = node.handle_notifications(listener).map_err(|error| error.to_string())?;
    let balance_events = events.clone();
    let _balance = wallet.handle_balance_changed(Box::new(move || {
        let _ = balance_events.send(Event::Balance);
    }));
    if let Some(stop) = stop {
        let quit = events.clone();
        std::thread::Builder::new()
            .name("coin-gui-stop".into())
            .spawn(move || {
                stop.wait();
                let _ = quit.send(Event::Quit);
            })
            .map_err(|error| format!("cannot start a thread: {error}"))?;
    }
    let keys = events.clone();
    std::thread::Builder::new()
        .name("coin-gui-keys".into())
        .spawn(move || read_keys(&keys))
        .map_err(|error| format!("cannot start a thread: {error}"))?;

    let mut view = View {
        wallet_name: wallet.name().unwrap_or_else(|_| DEFAULT_WALLET.into()),
        height: 0,
        balance: 0,
        transactions: Vec::new(),
        address: None,
        status: String::new(),
        prompt: None,
    };
    refresh(node, &*wallet, &mut view);
    let mut terminal = ratatui::init();
    let outcome = event_loop(&mut terminal, node, &*wallet, &mut view, &inbox);
    ratatui::restore();
    outcome
}

fn read_keys(events: &Sender<Event>) {
    loop {
        let sent = match event::read() {
            Ok(TermEvent::Key(key)) if key.kind == KeyEventKind::Press => events.send(Event::Key(key.code)),
            Ok(TermEvent::Resize(..)) => events.send(Event::Redraw),
            Ok(_) => Ok(()),
            Err(_) => return,
        };
        if sent.is_err() {
            return;
        }
    }
}

fn refresh(node: &dyn Node, wallet: &dyn Wallet, view: &mut View) {
    match node.tip() {
        Ok(tip) => view.height = tip.height,
        Err(error) => view.status = format!("node: {error}"),
    }
    match wallet.balance() {
        Ok(balance) => view.balance = balance,
        Err(error) => view.status = format!("wallet: {error}"),
    }
    if let Ok(transactions) = wallet.transactions(10) {
        view.transactions = transactions;
    }
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    node: &dyn Node,
    wallet: &dyn Wallet,
    view: &mut View,
    inbox: &Receiver<Event>,
) -> Result<(), String> {
    loop {
        terminal.draw(|frame| draw(frame, view)).map_err(|error| format!("cannot draw: {error}"))?;
        let Ok(event) = inbox.recv() else { return Ok(()) };
        match event {
            Event::Chain | Event::Balance => refresh(node, wallet, view),
            Event::Redraw => {}
            Event::Quit => return Ok(()),
            Event::Key(key) => {
                if !on_key(key, node, wallet, view) {
                    return Ok(());
                }
                // What the key did shows at once; notifications follow.
                refresh(node, wallet, view);
            }
        }
    }
}

/// Handles a key; `false` to quit.
fn on_key(key: KeyCode, node: &dyn Node, wallet: &dyn Wallet, view: &mut View) -> bool {
    match view.prompt.take() {
        Some(prompt) => {
            view.prompt = answer(prompt, key, wallet, view);
            true
        }
        None => match key {
            KeyCode::Char('q') | KeyCode::Esc => false,
            KeyCode::Char('m') => {
                view.status = match wallet.new_address() {
                    Ok(address) => match node.generate_to_address(1, address) {
                        Ok(hashes) => {
                            format!("mined block {}", hashes.first().map(Hash256::to_hex).unwrap_or_default())
                        }
                        Err(error) => format!("mining failed: {error}"),
                    },
                    Err(error) => format!("no address: {error}"),
                };
                true
            }
            KeyCode::Char('n') => {
                match wallet.new_address() {
                    Ok(address) => view.address = Some(address),
                    Err(error) => view.status = format!("no address: {error}"),
                }
                true
            }
            KeyCode::Char('s') => {
                view.prompt = Some(Prompt::Address(String::new()));
                true
            }
            _ => true,
        },
    }
}

/// Types into a prompt; the prompt that follows, if any.
fn answer(prompt: Prompt, key: KeyCode, wallet: &dyn Wallet, view: &mut View) -> Option<Prompt> {
    let edit = |mut text: String| match key {
        KeyCode::Char(c) => {
            text.push(c);
            Some(text)
        }
        KeyCode::Backspace => {
            text.pop();
            Some(text)
        }
        _ => Some(text),
    };
    match (prompt, key) {
        (_, KeyCode::Esc) => {
            view.status = "send cancelled".into();
            None
        }
        (Prompt::Address(text), KeyCode::Enter) => match text.trim().parse::<Address>() {
            Ok(address) => Some(Prompt::Amount(address, String::new())),
            Err(error) => {
                view.status = error.to_string();
                None
            }
        },
        (Prompt::Amount(address, text), KeyCode::Enter) => {
            view.status = match text.trim().parse::<u64>() {
                Ok(amount) => match wallet.send(address, amount) {
                    Ok(txid) => format!("sent {amount} in {txid}"),
                    Err(error) => format!("not sent: {error}"),
                },
                Err(_) => format!("not an amount: {text}"),
            };
            None
        }
        (Prompt::Address(text), _) => edit(text).map(Prompt::Address),
        (Prompt::Amount(address, text), _) => edit(text).map(|text| Prompt::Amount(address, text)),
    }
}

fn draw(frame: &mut ratatui::Frame<'_>, view: &View) {
    let [summary, history, footer] =
        Layout::vertical([Constraint::Length(6), Constraint::Min(3), Constraint::Length(3)]).areas(frame.area());
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::styled(format!("Height: {}", view.height), bold),
        Line::styled(format!("Balance: {}", view.balance), bold),
    ];
    if let Some(address) = view.address {
        lines.push(Line::from(format!("Address: {address}")));
    }
    let title = format!(" coin: wallet {} ", view.wallet_name);
    frame.render_widget(Paragraph::new(lines).block(Frame::default().borders(Borders::ALL).title(title)), summary);

    let items: Vec<ListItem<'_>> = view
        .transactions
        .iter()
        .rev()
        .map(|tx| {
            ListItem::new(format!(
                "{:<9} {:>16} {:>5} conf  {}",
                tx.category.as_str(),
                tx.amount,
                tx.confirmations,
                &tx.txid.to_hex()[..16]
            ))
        })
        .collect();
    let recent = List::new(items).block(Frame::default().borders(Borders::ALL).title(" Recent transactions "));
    frame.render_widget(recent, history);

    let help = match &view.prompt {
        Some(Prompt::Address(text)) => format!("Send to address: {text}_  (Enter, Esc cancels)"),
        Some(Prompt::Amount(_, text)) => format!("Amount in units: {text}_  (Enter, Esc cancels)"),
        None if !view.status.is_empty() => format!("{}   |   m mine  n new address  s send  q quit", view.status),
        None => "m mine  n new address  s send  q quit".into(),
    };
    frame.render_widget(Paragraph::new(help).block(Frame::default().borders(Borders::ALL)), footer);
}
